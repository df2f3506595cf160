//! syslog listeners end to end: UDP, TCP (both framings), TLS with client certificates
//! mapped to tenants, and malformed input that must never stop the server.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::Harness;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use vigie_server::config::{Protocol, Syslog};
use vigie_server::metrics::DropReason;

fn listener(name: &str, protocol: Protocol, tenant: &str) -> Syslog {
    Syslog {
        name: name.to_owned(),
        protocol,
        listen: "127.0.0.1:0".parse().expect("addr"),
        tenant: tenant.to_owned(),
        logsource: None,
        max_message_bytes: 1024,
        cert: None,
        key: None,
        client_ca: None,
        client_tenants: BTreeMap::new(),
        framing: vigie_server::config::StreamFraming::Auto,
        max_connections: 256,
    }
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    client_der: Vec<u8>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("key");
    let client = CertificateParams::new(vec!["collector.globex".to_owned()])
        .expect("params")
        .signed_by(&client_key, &issuer)
        .expect("client cert");
    Pki {
        ca_pem: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client_der: client.der().to_vec(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

fn tls_client(
    pki: &Pki,
    with_cert: bool,
    addr: std::net::SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(c.expect("ca")).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = if with_cert {
        let chain = CertificateDer::pem_slice_iter(pki.client_cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(pki.client_key.as_bytes()).expect("key");
        builder
            .with_client_auth_cert(chain, key)
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    let name = ServerName::try_from("localhost").expect("name").to_owned();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    rustls::StreamOwned::new(conn, TcpStream::connect(addr).expect("connect"))
}

fn count(h: &Harness, tenant: &str, q: &str) -> u64 {
    let (status, body) = h.get(
        &format!("/api/v1/events?q={q}&limit=1"),
        &h.readers[tenant],
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["total"].as_u64().expect("total")
}

fn wait_for(h: &Harness, tenant: &str, q: &str, n: u64) {
    let start = Instant::now();
    loop {
        h.settle();
        let got = count(h, tenant, q);
        if got >= n {
            assert_eq!(got, n, "{tenant} {q}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{tenant} {q}: {got} of {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn udp_tcp_and_tls_deliver_to_their_tenants_and_survive_bad_input() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let mut tls = listener("tls", Protocol::Tls, "acme");
    tls.cert = Some(write("server.pem", &pki.server_cert));
    tls.key = Some(write("server.key", &pki.server_key));
    tls.client_ca = Some(write("ca.pem", &pki.ca_pem));
    tls.client_tenants.insert(
        vigie_server::intake::tls::fingerprint(&pki.client_der),
        "globex".to_owned(),
    );
    let h = Harness::start(
        &["acme", "globex"],
        vec![
            listener("udp", Protocol::Udp, "acme"),
            listener("tcp", Protocol::Tcp, "acme"),
            tls,
        ],
        |_| {},
    );

    // UDP: one message per datagram, RFC 3164 and 5424.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..20 {
        let line = if i % 2 == 0 {
            format!("<38>Nov 23 01:00:{i:02} srv-1 sshd[42]: udpcanary {i}")
        } else {
            format!("<38>1 2026-11-23T01:00:{i:02}Z srv-1 sshd 42 - - udpcanary {i}")
        };
        udp.send_to(line.as_bytes(), h.syslog["udp"]).expect("send");
    }
    // An oversized datagram is dropped and counted.
    udp.send_to(&vec![b'x'; 2000], h.syslog["udp"])
        .expect("send");
    wait_for(&h, "acme", "udpcanary", 20);

    // TCP, octet counting (the first byte, a digit, decides for the connection): frames,
    // one split across writes, then a bogus count, which ends the connection's stream
    // (counted) instead of misreading what follows it.
    let mut tcp = TcpStream::connect(h.syslog["tcp"]).expect("connect");
    for i in 0..2 {
        let m = format!("<38>Nov 23 01:00:0{i} srv-2 sshd[1]: tcpcanary counted {i}");
        write!(tcp, "{} {m}", m.len()).expect("write");
    }
    let m = "<38>Nov 23 01:00:02 srv-2 sshd[1]: tcpcanary counted split";
    write!(tcp, "{} {}", m.len(), &m[..20]).expect("write");
    tcp.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(50));
    tcp.write_all(&m.as_bytes()[20..]).expect("write");
    tcp.write_all(b"99999999999999999999 x\n").expect("write");
    let after = "<38>Nov 23 01:00:03 srv-2 sshd[1]: tcpcanary never framed";
    // The server may have closed already: a failed write is the expected outcome too.
    let _ = write!(tcp, "{} {after}", after.len());
    drop(tcp);

    // TCP, LF framing (the first byte is `<`): a frame split across writes, invalid UTF-8,
    // an oversized line, and a BSD line without <PRI> that starts with digits, which must
    // stay one line (not be read as an octet count).
    let mut lf = TcpStream::connect(h.syslog["tcp"]).expect("connect");
    lf.write_all(b"<38>Nov 23 01:00:01 srv-2 sshd[1]: tcpcanary lf\n")
        .expect("write");
    lf.write_all(b"<38>Nov 23 01:00:02 srv-2 sshd[1]: tcpcanary spl")
        .expect("write");
    lf.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(50));
    lf.write_all(b"it\n<38>Nov 23 01:00:03 srv-2 sshd[1]: tcpcanary \xff\xfe bytes\n")
        .expect("write");
    lf.write_all(&vec![b'y'; 3000]).expect("write");
    lf.write_all(b"\n12345 srv-2 sshd[1]: tcpcanary digits first\n")
        .expect("write");
    lf.write_all(b"<38>Nov 23 01:00:04 srv-2 sshd[1]: tcpcanary after the bad ones\n")
        .expect("write");
    drop(lf);

    // A slow client holding a half frame, and a client that breaks off a TLS handshake.
    let mut slow = TcpStream::connect(h.syslog["tcp"]).expect("connect");
    slow.write_all(b"<38>Nov 23 01:00:05 srv-3 sshd[1]: tcpcanary sl")
        .expect("write");
    let mut broken = TcpStream::connect(h.syslog["tls"]).expect("connect");
    broken
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("write");
    drop(broken);
    let mut garbage = TcpStream::connect(h.syslog["tls"]).expect("connect");
    garbage
        .write_all(b"this is not TLS at all\n")
        .expect("write");
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);

    // TLS without a client certificate is refused (client_ca is set).
    let mut anonymous = tls_client(&pki, false, h.syslog["tls"]);
    let refused = anonymous
        .write_all(b"12 <38>x tlsanon\n")
        .and_then(|()| anonymous.flush())
        .and_then(|()| anonymous.read(&mut [0u8; 16]).map(drop));
    assert!(
        refused.is_err(),
        "a TLS client without a certificate must be refused"
    );

    // TLS with the client certificate: the messages go to the tenant its fingerprint names.
    let mut client = tls_client(&pki, true, h.syslog["tls"]);
    for i in 0..10 {
        let line = format!("<38>Nov 23 01:00:{i:02} fw-1 kernel: tlscanary {i}");
        write!(client, "{} {line}", line.len()).expect("write");
    }
    client.flush().expect("flush");
    // Close cleanly: close_notify, half-close, then read the server's session tickets and
    // EOF (closing with unread data would reset the connection and lose what is in flight).
    client.conn.send_close_notify();
    let _ = client.flush();
    let _ = client.sock.shutdown(std::net::Shutdown::Write);
    let _ = client.read_to_end(&mut Vec::new());

    slow.write_all(b"ow\n").expect("write");
    drop(slow);

    wait_for(&h, "acme", "tcpcanary", 9);
    assert_eq!(count(&h, "acme", "%22digits%20first%22"), 1);
    assert_eq!(count(&h, "acme", "%22never%20framed%22"), 0);
    wait_for(&h, "globex", "tlscanary", 10);
    assert_eq!(count(&h, "acme", "tlscanary"), 0);
    assert_eq!(count(&h, "globex", "tcpcanary OR udpcanary"), 0);

    let metrics = h.server.as_ref().expect("server").metrics();
    let udp_counters = metrics.source("acme", "udp");
    assert_eq!(udp_counters.dropped(DropReason::Oversize), 1);
    assert_eq!(udp_counters.journaled.load(Ordering::Relaxed), 20);
    let tcp_counters = metrics.source("acme", "tcp");
    assert_eq!(tcp_counters.dropped(DropReason::Oversize), 1);
    assert_eq!(tcp_counters.dropped(DropReason::Framing), 1);
    assert_eq!(
        metrics
            .source("globex", "tls")
            .journaled
            .load(Ordering::Relaxed),
        10
    );

    // And the server still answers.
    let (status, _) = h.get("/api/v1/health", "", None);
    assert_eq!(status, 200);
    h.stop();
}
