//! Synthetic security telemetry, from one seeded generator: the logs of small companies (one
//! per tenant) as their sources write them on the wire (this module: `vigie bench store`,
//! `vigie bench ingest` and the demo's background traffic), and a production sink's mix of
//! decoded Windows events ([`sink`]: the Sigma engine benchmark).
//!
//! - Windows (45 %): Sysmon 1/3 and Security 4624/4625/4688 in the evtx JSON rendering
//!   (what the EVTX path stores), sent over HTTP;
//! - Linux (20 %): sshd, sudo and cron lines in RFC 3164 and RFC 5424 syslog;
//! - DNS (20 %): resolver query logs as JSON;
//! - firewall (15 %): CEF over syslog.
//!
//! Everything comes from one seeded PRNG ([`Rng`], splitmix64), so a run is reproducible; times
//! advance evenly over the chosen span with a little jitter, as live traffic does.

pub mod sink;

/// How an event travels: decides the decoder and the source kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// A JSON object posted over HTTP.
    Json,
    /// A syslog line (RFC 3164 or 5424).
    Syslog,
    /// A CEF message.
    Cef,
}

/// One generated event.
#[derive(Debug)]
pub struct Generated {
    /// Index of its tenant.
    pub tenant: usize,
    /// How it travels.
    pub wire: Wire,
    /// The bytes as the source sends them (no line end).
    pub line: String,
    /// Its time, nanoseconds since the epoch.
    pub time: i64,
}

/// A small, fast, seedable PRNG (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`: the same seed, the same sequence.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// One of `items` (not empty), uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `template` with each `{u}` replaced: by a random number half of the time (a value
    /// seen once), by a constant otherwise (a value seen again and again).
    pub fn fill(&mut self, template: &str) -> String {
        if !template.contains("{u}") {
            return template.to_owned();
        }
        let u = if self.below(2) == 0 {
            self.below(100_000_000).to_string()
        } else {
            "1234".to_owned()
        };
        template.replace("{u}", &u)
    }

    /// Index `0..n` with a Zipf-like skew: low indexes much more frequent (real logs have
    /// a few chatty hosts and users).
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b).min(self.below(n))
    }
}

const IMAGES: [&str; 12] = [
    "C:\\Windows\\System32\\svchost.exe",
    "C:\\Windows\\System32\\cmd.exe",
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "C:\\Windows\\explorer.exe",
    "C:\\Windows\\System32\\conhost.exe",
    "C:\\Windows\\System32\\taskhostw.exe",
    "C:\\Windows\\System32\\rundll32.exe",
    "C:\\Windows\\System32\\schtasks.exe",
    "C:\\Program Files\\7-Zip\\7z.exe",
    "C:\\Windows\\System32\\net.exe",
];

const ARGS: [&str; 10] = [
    "-k netsvcs -p -s Schedule",
    "/c dir C:\\Users\\{user}\\Documents",
    "-NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\inventory-{n}.ps1",
    "--type=renderer --field-trial-handle={n} --lang=fr",
    "/n C:\\Users\\{user}\\Downloads\\invoice-{n}.docm",
    "",
    "0xffffffff -ForceV1",
    "/q /c echo {n} > nul",
    "C:\\Windows\\System32\\shell32.dll,Control_RunDLL",
    "/query /tn \\Microsoft\\Windows\\Backup-{n}",
];

const USERS: [&str; 16] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "svc_backup",
];

const DOMAINS: [&str; 12] = [
    "microsoft.com",
    "windowsupdate.com",
    "google.com",
    "office365.com",
    "github.com",
    "slack.com",
    "zoom.us",
    "amazonaws.com",
    "cloudflare.com",
    "example-bank.fr",
    "ubuntu.com",
    "corp.local",
];

/// Benign process starts of an office workstation: (parent, image, arguments), as Sysmon
/// and Security 4688 see them. Used by [`Generator::benign`] so that a demo's background
/// traffic does not look like an attack (random parent/child pairs trip many Sigma rules).
const BENIGN_PROCESSES: [(&str, &str, &str); 10] = [
    (
        "C:\\Windows\\System32\\services.exe",
        "C:\\Windows\\System32\\svchost.exe",
        "-k netsvcs -p -s Schedule",
    ),
    (
        "C:\\Windows\\System32\\services.exe",
        "C:\\Windows\\System32\\svchost.exe",
        "-k LocalService -p -s EventSystem",
    ),
    (
        "C:\\Windows\\explorer.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "--profile-directory=Default",
    ),
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "--type=renderer --field-trial-handle={n} --lang=fr",
    ),
    (
        "C:\\Windows\\explorer.exe",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "/n C:\\Users\\{user}\\Documents\\report-{n}.docx",
    ),
    (
        "C:\\Windows\\explorer.exe",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
        "C:\\Users\\{user}\\Documents\\budget-{n}.xlsx",
    ),
    (
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\System32\\taskhostw.exe",
        "",
    ),
    (
        "C:\\Windows\\explorer.exe",
        "C:\\Program Files\\7-Zip\\7zFM.exe",
        "C:\\Users\\{user}\\Downloads\\photos-{n}.zip",
    ),
    (
        "C:\\Windows\\System32\\userinit.exe",
        "C:\\Windows\\explorer.exe",
        "",
    ),
    (
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
        "-secured -Embedding",
    ),
];

/// Benign network clients: (image, destination port).
const BENIGN_CONNECTIONS: [(&str, u64); 5] = [
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        443,
    ),
    ("C:\\Windows\\System32\\svchost.exe", 443),
    ("C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", 443),
    ("C:\\Windows\\System32\\mstsc.exe", 3389),
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        80,
    ),
];

/// The generator: `tenants` companies, `count` events spread evenly over `span` from
/// `start` (nanoseconds).
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    tenants: usize,
    count: u64,
    start: i64,
    span: i64,
    i: u64,
    benign: bool,
}

impl Generator {
    /// `count` events of `tenants` companies from `seed`, spread over `span` nanoseconds
    /// from `start`.
    pub fn new(seed: u64, tenants: usize, count: u64, start: i64, span: i64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            tenants: tenants.max(1),
            count: count.max(1),
            start,
            span,
            i: 0,
            benign: false,
        }
    }

    /// Process starts and connections from a table of benign ones instead of random
    /// combinations (the benchmarks keep the random mix, which exercises more rules).
    pub fn benign(mut self) -> Generator {
        self.benign = true;
        self
    }

    fn host(&mut self, prefix: &str, n: u64) -> String {
        format!("{prefix}-{:04}", self.rng.skewed(n))
    }

    fn internal_ip(&mut self, tenant: usize) -> String {
        format!(
            "10.{}.{}.{}",
            tenant % 250,
            self.rng.skewed(16),
            1 + self.rng.below(250)
        )
    }

    fn public_ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            11 + self.rng.below(180),
            self.rng.below(256),
            self.rng.below(256),
            1 + self.rng.below(254)
        )
    }
}

/// `2026-11-22T08:00:00.123456Z` of nanoseconds since the epoch.
/// A Windows event in the evtx JSON rendering (what EVTX decoding stores); `data` is the
/// inside of `EventData`, already JSON.
pub fn windows_json(
    provider: &str,
    event_id: u32,
    ts: &str,
    record: u64,
    channel: &str,
    computer: &str,
    data: &str,
) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"{provider}"}}}},"EventID":{event_id},"Level":4,"Task":0,"Keywords":"0x8000000000000000","TimeCreated":{{"#attributes":{{"SystemTime":"{ts}"}}}},"EventRecordID":{record},"Channel":"{channel}","Computer":"{computer}"}},"EventData":{{{data}}}}}}}"##
    )
}

/// RFC 3339 in UTC of nanoseconds since the epoch.
pub fn rfc3339(nanos: i64) -> String {
    vigie_event::Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

/// The text of a JSON string without its quotes, escaped as everywhere else
/// ([`vigie_event::render::write_str`]).
pub fn json_escape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    vigie_event::render::write_str(&mut out, s);
    String::from_utf8_lossy(&out[1..out.len() - 1]).into_owned()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Iterator for Generator {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        if self.i >= self.count {
            return None;
        }
        let i = self.i;
        self.i += 1;
        let tenant = self.rng.below(self.tenants as u64) as usize;
        let step = (i128::from(self.span) * i128::from(i) / i128::from(self.count)) as i64;
        let time = self.start + step + self.rng.below(1_000_000) as i64;
        let ts = rfc3339(time);
        let user = (*self.rng.pick(&USERS)).to_owned();
        let n = self.rng.below(100_000);
        let kind = self.rng.below(100);
        let (wire, line) = if kind < 45 {
            let host = self.host("ws", 200);
            let computer = format!("{host}.corp.local");
            let record = 1 + i;
            let (channel, provider, event_id, data) = match self.rng.below(5) {
                0 | 1 => {
                    let (image, args, parent) = if self.benign {
                        let (parent, image, args) = *self.rng.pick(&BENIGN_PROCESSES);
                        (image, args, parent)
                    } else {
                        let image = *self.rng.pick(&IMAGES);
                        let args = *self.rng.pick(&ARGS);
                        (image, args, *self.rng.pick(&IMAGES))
                    };
                    let args = args.replace("{user}", &user).replace("{n}", &n.to_string());
                    let cmd = if args.is_empty() {
                        format!("\"{image}\"")
                    } else {
                        format!("\"{image}\" {args}")
                    };
                    let pid = 1000 + self.rng.below(60_000);
                    (
                        "Microsoft-Windows-Sysmon/Operational",
                        "Microsoft-Windows-Sysmon",
                        1,
                        format!(
                            r#""RuleName":"-","UtcTime":"{ts}","ProcessGuid":"{{{:08X}-0000-0000-0000-{:012X}}}","ProcessId":{pid},"Image":"{}","CommandLine":"{}","CurrentDirectory":"C:\\Windows\\system32\\","User":"CORP\\{user}","LogonId":"0x{:x}","IntegrityLevel":"Medium","Hashes":"SHA256={:016X}{:016X}","ParentImage":"{}","ParentProcessId":{}"#,
                            self.rng.next_u64() as u32,
                            self.rng.next_u64() & 0xFFFF_FFFF_FFFF,
                            json_escape(image),
                            json_escape(&cmd),
                            self.rng.below(1 << 24),
                            self.rng.next_u64(),
                            self.rng.next_u64(),
                            json_escape(parent),
                            1000 + self.rng.below(60_000)
                        ),
                    )
                }
                2 => {
                    let benign = self.benign.then(|| *self.rng.pick(&BENIGN_CONNECTIONS));
                    let image = match benign {
                        Some((image, _)) => image,
                        None => *self.rng.pick(&IMAGES),
                    };
                    let src = self.internal_ip(tenant);
                    let dst = self.public_ip();
                    (
                        "Microsoft-Windows-Sysmon/Operational",
                        "Microsoft-Windows-Sysmon",
                        3,
                        format!(
                            r#""RuleName":"-","UtcTime":"{ts}","Image":"{}","User":"CORP\\{user}","Protocol":"tcp","Initiated":"true","SourceIp":"{src}","SourcePort":{},"DestinationIp":"{dst}","DestinationPort":{}"#,
                            json_escape(image),
                            49152 + self.rng.below(16000),
                            match benign {
                                Some((_, port)) => port,
                                None => *self.rng.pick(&[443u64, 443, 443, 80, 53, 445, 3389, 22]),
                            }
                        ),
                    )
                }
                3 => {
                    let ok = self.rng.below(10) < 8;
                    let src = self.internal_ip(tenant);
                    (
                        "Security",
                        "Microsoft-Windows-Security-Auditing",
                        if ok { 4624 } else { 4625 },
                        format!(
                            r#""SubjectUserSid":"S-1-5-18","TargetUserName":"{user}","TargetDomainName":"CORP","LogonType":{},"WorkstationName":"{}","IpAddress":"{src}","IpPort":"{}","LogonProcessName":"NtLmSsp","AuthenticationPackageName":"NTLM""#,
                            *self.rng.pick(&[2u64, 3, 3, 3, 10, 5]),
                            self.host("ws", 200).to_uppercase(),
                            49152 + self.rng.below(16000)
                        ),
                    )
                }
                _ => {
                    let (parent, image, args) = if self.benign {
                        let (parent, image, args) = *self.rng.pick(&BENIGN_PROCESSES);
                        let args = args.replace("{user}", &user).replace("{n}", &n.to_string());
                        (parent, image, args)
                    } else {
                        let image = *self.rng.pick(&IMAGES);
                        ("C:\\Windows\\explorer.exe", image, n.to_string())
                    };
                    (
                        "Security",
                        "Microsoft-Windows-Security-Auditing",
                        4688,
                        format!(
                            r#""SubjectUserName":"{user}","SubjectDomainName":"CORP","NewProcessId":"0x{:x}","NewProcessName":"{}","TokenElevationType":"%%1938","CommandLine":"{} {}","ParentProcessName":"{}""#,
                            self.rng.below(1 << 16),
                            json_escape(image),
                            json_escape(image),
                            json_escape(&args),
                            json_escape(parent)
                        ),
                    )
                }
            };
            let line = windows_json(provider, event_id, &ts, record, channel, &computer, &data);
            (Wire::Json, line)
        } else if kind < 65 {
            let host = self.host("srv", 40);
            let civil =
                vigie_event::Timestamp::from_nanos(time).to_civil(vigie_event::UtcOffset::UTC);
            let pid = 100 + self.rng.below(30_000);
            let src = if self.rng.below(3) == 0 {
                self.public_ip()
            } else {
                self.internal_ip(tenant)
            };
            let (app, msg) = match self.rng.below(4) {
                0 => (
                    "sshd",
                    format!(
                        "Accepted publickey for {user} from {src} port {} ssh2",
                        1024 + self.rng.below(60000)
                    ),
                ),
                1 => (
                    "sshd",
                    format!(
                        "Failed password for invalid user {user}{} from {src} port {} ssh2",
                        self.rng.below(100),
                        1024 + self.rng.below(60000)
                    ),
                ),
                2 => (
                    "sudo",
                    format!(
                        "{user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx-{}",
                        self.rng.below(8),
                        n % 50
                    ),
                ),
                _ => (
                    "CRON",
                    format!("({user}) CMD (/usr/local/bin/backup.sh --job {})", n % 1000),
                ),
            };
            let line = if self.rng.below(2) == 0 {
                format!(
                    "<{}>{} {:2} {:02}:{:02}:{:02} {host} {app}[{pid}]: {msg}",
                    if app == "sudo" { 85 } else { 38 },
                    MONTHS[(civil.month - 1) as usize],
                    civil.day,
                    civil.hour,
                    civil.minute,
                    civil.second
                )
            } else {
                format!(
                    "<{}>1 {ts} {host} {app} {pid} - - {msg}",
                    if app == "sudo" { 85 } else { 38 }
                )
            };
            (Wire::Syslog, line)
        } else if kind < 85 {
            let domain = *self.rng.pick(&DOMAINS);
            let sub = match self.rng.below(4) {
                0 => "www".to_owned(),
                1 => "api".to_owned(),
                2 => format!("cdn{}", self.rng.below(20)),
                _ => format!("h{:x}", self.rng.below(1 << 20)),
            };
            let client = self.internal_ip(tenant);
            let answer = self.public_ip();
            let qtype = *self
                .rng
                .pick(&["A", "A", "A", "AAAA", "CNAME", "TXT", "MX"]);
            let line = format!(
                r#"{{"timestamp":"{ts}","hostname":"dns-0{}","query":"{sub}.{domain}","query_type":"{qtype}","client_ip":"{client}","answer":"{answer}","rcode":"{}","bytes":{},"latency_ms":{}}}"#,
                self.rng.below(2),
                *self
                    .rng
                    .pick(&["NOERROR", "NOERROR", "NOERROR", "NXDOMAIN", "SERVFAIL"]),
                40 + self.rng.below(400),
                self.rng.below(120)
            );
            (Wire::Json, line)
        } else {
            let src = self.internal_ip(tenant);
            let dst = if self.rng.below(2) == 0 {
                self.public_ip()
            } else {
                self.internal_ip(tenant)
            };
            let deny = self.rng.below(5) == 0;
            let port = *self.rng.pick(&[443u64, 80, 53, 22, 445, 3389, 8080, 25]);
            let line = format!(
                "CEF:0|Acme|NGFW|7.2|{}|traffic {}|{}|rt={} src={src} spt={} dst={dst} dpt={port} proto=TCP act={} deviceExternalId=fw-0{} cs1Label=rule cs1=rule-{} in={} out={}",
                if deny { 2001 } else { 1001 },
                if deny { "denied" } else { "allowed" },
                if deny { 5 } else { 1 },
                time / 1_000_000,
                49152 + self.rng.below(16000),
                if deny { "deny" } else { "allow" },
                self.rng.below(3),
                self.rng.below(40),
                self.rng.below(100_000),
                self.rng.below(1_000_000)
            );
            (Wire::Cef, line)
        };
        Some(Generated {
            tenant,
            wire,
            line,
            time,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

    use super::*;

    #[test]
    fn every_generated_event_decodes_with_its_time() {
        let t = TenantId::new("t").unwrap();
        let mut d = Decoder::new(Origin::new(t, Source::new(SourceKind::Http, "gen")));
        let start = 1_795_132_800_000_000_000;
        let generator = Generator::new(7, 3, 5_000, start, 86_400_000_000_000);
        let mut wires = [0u64; 3];
        for g in generator {
            let bytes = Bytes::from(g.line.clone());
            let event = match g.wire {
                Wire::Json => d.decode_json(bytes),
                Wire::Syslog => d.decode_syslog(bytes),
                Wire::Cef => d.decode_cef(bytes),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", g.line));
            assert!(g.tenant < 3);
            wires[g.wire as usize] += 1;
            assert!(!event.fields.is_empty(), "{}", g.line);
            // RFC 3164 has second precision and no year: compare to the second.
            let diff = (event.time.as_nanos() - g.time).abs();
            if g.line.contains(">1 ") || g.wire != Wire::Syslog {
                assert!(
                    diff < 1_000_000_000,
                    "{} vs {}: {}",
                    event.time,
                    g.time,
                    g.line
                );
            }
        }
        assert!(wires.iter().all(|&n| n > 500), "{wires:?}");
    }

    #[test]
    fn benign_events_decode_too() {
        let t = TenantId::new("t").unwrap();
        let mut d = Decoder::new(Origin::new(t, Source::new(SourceKind::Http, "gen")));
        let generator =
            Generator::new(9, 2, 2_000, 1_795_132_800_000_000_000, 1_000_000_000).benign();
        for g in generator {
            let bytes = Bytes::from(g.line.clone());
            let decoded = match g.wire {
                Wire::Json => d.decode_json(bytes),
                Wire::Syslog => d.decode_syslog(bytes),
                Wire::Cef => d.decode_cef(bytes),
            };
            decoded.unwrap_or_else(|e| panic!("{}: {e}", g.line));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<String> = Generator::new(1, 2, 100, 0, 1_000_000_000)
            .map(|g| g.line)
            .collect();
        let b: Vec<String> = Generator::new(1, 2, 100, 0, 1_000_000_000)
            .map(|g| g.line)
            .collect();
        assert_eq!(a, b);
    }
}
