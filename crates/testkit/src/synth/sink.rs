//! A synthetic mix of decoded Windows events, as a production sink sees them: mostly benign
//! logons, process starts, network connections, file and registry writes, DNS queries and
//! PowerShell script blocks, with the field names and value shapes of Security and Sysmon
//! events. Deterministic (a fixed seed of the one [`Rng`]), so runs compare.
//!
//! Values repeat as they do in production: images, users and hosts come from short tables;
//! most command lines, temporary file names, some registry keys and DNS names carry a per-event
//! part (`{u}` in the tables: a random number half of the time, a constant otherwise), so that
//! about a third of command lines are seen once, as in a real sink, and a matcher cannot live
//! on cached answers alone.

use bytes::Bytes;
use vigie_event::{Decoder, Event};

use super::{Rng, json_escape};

const IMAGES: &[&str] = &[
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\RuntimeBroker.exe",
    r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Program Files\Mozilla Firefox\firefox.exe",
    r"C:\Windows\System32\taskhostw.exe",
    r"C:\Windows\System32\backgroundTaskHost.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Windows\System32\SearchIndexer.exe",
    r"C:\Users\alice\AppData\Local\Microsoft\Teams\current\Teams.exe",
];

const COMMAND_LINES: &[&str] = &[
    r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
    r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --field-trial-handle={u},5678 /prefetch:1"#,
    r"C:\Windows\Explorer.EXE",
    r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
    r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle"#,
    r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    r#"C:\Windows\system32\cmd.exe /c "dir C:\Users\alice\Documents\{u}""#,
    r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\inventory-{u}.ps1",
    r#""C:\Program Files\Mozilla Firefox\firefox.exe" -contentproc --channel={u} -childID 5 -isForBrowser"#,
    r"taskhostw.exe {222A245B-E637-4AE9-A93F-{u}}",
    r"C:\Windows\system32\backgroundTaskHost.exe -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca",
    r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --field-trial-handle={u}"#,
    r"C:\Windows\system32\SearchIndexer.exe /Embedding /ProcessId:{u}",
    r"C:\Users\alice\AppData\Local\Microsoft\Teams\current\Teams.exe --type=gpu-process --gpu-preferences={u}",
];

const USERS: &[&str] = &["alice", "bob", "svc_backup", "SYSTEM", "carol", "dave"];
const HOSTS: &[&str] = &[
    "WS-0142",
    "WS-0077",
    "SRV-DC01",
    "SRV-FILE02",
    "LAPTOP-9F3K",
];
const DOMAINS: &[&str] = &[
    "www.google.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
    "update.microsoft.com",
    "github.com",
    "cdn.jsdelivr.net",
    "intranet.corp.example",
    "e{u}.dscx.akamaiedge.net",
];
const FILES: &[&str] = &[
    r"C:\Users\alice\AppData\Local\Temp\~DF{u}.tmp",
    r"C:\Users\bob\Documents\report-2026-Q3.docx",
    r"C:\Windows\Prefetch\CHROME.EXE-5A1B2C3D.pf",
    r"C:\ProgramData\Microsoft\Windows Defender\Scans\History\Service\DetectionHistory\01\ABC",
    r"C:\Users\carol\Downloads\invoice_{u}.pdf",
];
const KEYS: &[&str] = &[
    r"HKU\S-1-5-21-1004336348-1177238915-682003330-1001\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs\.docx",
    r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates\SignaturesLastUpdated",
    r"HKLM\System\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\{u}\DhcpIPAddress",
    r"HKLM\System\CurrentControlSet\Services\bam\State\UserSettings\S-1-5-21-1004336348-1177238915-682003330-1001",
];
const SCRIPTS: &[&str] = &[
    "Get-ChildItem -Path C:\\Logs -Filter *.log | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-30) } | Remove-Item",
    "Import-Module ActiveDirectory\nGet-ADUser -Filter * -Properties LastLogonDate | Select-Object Name,LastLogonDate | Export-Csv C:\\Reports\\users.csv",
    "$services = Get-Service | Where-Object Status -eq 'Running'\nforeach ($s in $services) { Write-Output $s.Name }",
];

/// One event's JSON, by weighted kind.
fn line(r: &mut Rng, n: u64) -> String {
    let host = r.pick(HOSTS);
    let user = r.pick(USERS);
    let time = format!(
        "2026-11-20T{:02}:{:02}:{:02}.{:06}Z",
        n / 3600 % 24,
        n / 60 % 60,
        n % 60,
        n % 1_000_000
    );
    let i = r.below(IMAGES.len() as u64) as usize;
    let image = json_escape(IMAGES[i]);
    let command = json_escape(&r.fill(COMMAND_LINES[i]));
    let parent = json_escape(r.pick::<&str>(IMAGES));
    let sysmon = |id: u32, data: String| {
        format!(
            r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":{id},"Computer":"{host}.corp.example","TimeCreated_SystemTime":"{time}","EventRecordID":{n},"UtcTime":"{time}","ProcessGuid":"{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}","ProcessId":{pid},"User":"CORP\\{user}",{data}}}"#,
            pid = 1000 + n % 60000
        )
    };
    match r.below(100) {
        0..30 => format!(
            r#"{{"Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing","EventID":4624,"Computer":"{host}.corp.example","TimeCreated_SystemTime":"{time}","EventRecordID":{n},"SubjectUserSid":"S-1-5-18","SubjectUserName":"{host}$","SubjectDomainName":"CORP","SubjectLogonId":"0x3e7","TargetUserSid":"S-1-5-21-1004336348-1177238915-682003330-1001","TargetUserName":"{user}","TargetDomainName":"CORP","TargetLogonId":"0x{n:x}","LogonType":{lt},"LogonProcessName":"User32","AuthenticationPackageName":"Negotiate","WorkstationName":"{host}","LogonGuid":"{{00000000-0000-0000-0000-000000000000}}","TransmittedServices":"-","LmPackageName":"-","KeyLength":0,"ProcessId":"0x2d4","ProcessName":"C:\\Windows\\System32\\svchost.exe","IpAddress":"10.1.{a}.{b}","IpPort":"0","ImpersonationLevel":"%%1833","ElevatedToken":"%%1842"}}"#,
            lt = [2, 3, 5, 7, 10][r.below(5) as usize],
            a = r.below(255),
            b = r.below(255)
        ),
        30..40 => format!(
            r#"{{"Channel":"Security","Provider_Name":"Microsoft-Windows-Security-Auditing","EventID":4688,"Computer":"{host}.corp.example","TimeCreated_SystemTime":"{time}","EventRecordID":{n},"SubjectUserSid":"S-1-5-21-1004336348-1177238915-682003330-1001","SubjectUserName":"{user}","SubjectDomainName":"CORP","SubjectLogonId":"0x{n:x}","NewProcessId":"0x{n:x}","NewProcessName":"{image}","TokenElevationType":"%%1938","ProcessId":"0x1a2c","CommandLine":"{command}","TargetUserSid":"S-1-0-0","TargetUserName":"-","TargetDomainName":"-","TargetLogonId":"0x0","ParentProcessName":"{parent}","MandatoryLabel":"S-1-16-8192"}}"#
        ),
        40..60 => sysmon(
            1,
            format!(
                r#""Image":"{image}","FileVersion":"10.0.19041.1","Description":"Windows host process","Product":"Microsoft Windows Operating System","Company":"Microsoft Corporation","OriginalFileName":"svchost.exe","CommandLine":"{command}","CurrentDirectory":"C:\\Windows\\system32\\","LogonGuid":"{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}","LogonId":"0x3e7","TerminalSessionId":0,"IntegrityLevel":"System","Hashes":"SHA1=A1B2C3D4E5F60718293A4B5C6D7E8F9012345678,MD5=0123456789ABCDEF0123456789ABCDEF,SHA256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF,IMPHASH=ABCDEF0123456789ABCDEF0123456789","ParentProcessGuid":"{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}","ParentProcessId":{pp},"ParentImage":"{parent}","ParentCommandLine":"{parent}","ParentUser":"NT AUTHORITY\\SYSTEM""#,
                pp = 400 + n % 3000
            ),
        ),
        60..75 => sysmon(
            3,
            format!(
                r#""Image":"{image}","Protocol":"tcp","Initiated":"true","SourceIsIpv6":"false","SourceIp":"10.1.{a}.{b}","SourceHostname":"{host}.corp.example","SourcePort":{sp},"DestinationIsIpv6":"false","DestinationIp":"{c}.{d}.{a}.{b}","DestinationHostname":"-","DestinationPort":{dp}"#,
                a = r.below(255),
                b = r.below(255),
                c = 20 + r.below(200),
                d = r.below(255),
                sp = 49152 + r.below(16000),
                dp = [443, 80, 53, 445, 3389, 8080][r.below(6) as usize]
            ),
        ),
        75..85 => sysmon(
            11,
            format!(
                r#""Image":"{image}","TargetFilename":"{f}","CreationUtcTime":"{time}""#,
                f = {
                    let t = r.pick(FILES);
                    json_escape(&r.fill(t))
                }
            ),
        ),
        85..93 => sysmon(
            13,
            format!(
                r#""EventType":"SetValue","Image":"{image}","TargetObject":"{k}","Details":"DWORD (0x00000001)""#,
                k = {
                    let t = r.pick(KEYS);
                    json_escape(&r.fill(t))
                }
            ),
        ),
        93..98 => sysmon(
            22,
            format!(
                r#""Image":"{image}","QueryName":"{q}","QueryStatus":"0","QueryResults":"::ffff:142.250.74.{a};""#,
                q = {
                    let t = r.pick(DOMAINS);
                    r.fill(t)
                },
                a = r.below(255)
            ),
        ),
        _ => format!(
            r#"{{"Channel":"Microsoft-Windows-PowerShell/Operational","Provider_Name":"Microsoft-Windows-PowerShell","EventID":4104,"Computer":"{host}.corp.example","TimeCreated_SystemTime":"{time}","EventRecordID":{n},"MessageNumber":1,"MessageTotal":1,"ScriptBlockText":"{s}","ScriptBlockId":"{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}","Path":""}}"#,
            s = json_escape(r.pick::<&str>(SCRIPTS))
        ),
    }
}

/// `count` decoded events of the mix.
pub fn events(decoder: &mut Decoder, count: usize) -> Vec<Event> {
    let mut r = Rng::new(0x9E37_79B9_7F4A_7C15);
    (0..count as u64)
        .map(|n| {
            let json = line(&mut r, n);
            decoder
                .decode_json(Bytes::from(json))
                .unwrap_or_else(|e| panic!("synthetic event {n} does not decode: {e}"))
        })
        .collect()
}
