//! A real browser for tests: Debian's Chromium, headless, driven through WebDriver
//! (`chromedriver` on a free loopback port, killed by its PID when dropped).
//!
//! The WebDriver client is ours (W3C WebDriver over HTTP/1.1 on a loopback socket: a few
//! JSON commands); no crate stands between the test and the protocol. Without `chromium`
//! and `chromedriver`, [`Browser::start`] returns `None` after a visible `SKIPPED:` line,
//! except under `CI=true`, where it panics (`.ci/run` installs them).
//!
//! A browser dropped while its test panics saves a screenshot and the page's HTML under
//! `target/browser-failures/` (or `VIGIE_SCREENSHOTS`), named after the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long [`Browser::find`] waits for an element to appear.
pub const WAIT: Duration = Duration::from_secs(10);

/// A headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    name: String,
}

/// An element of the page (its WebDriver reference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Options of a session.
#[derive(Clone, Debug)]
pub struct Options {
    /// The browser's language (`Accept-Language`), e.g. `en` or `fr-FR`.
    pub lang: String,
    /// Whether pages may run JavaScript.
    pub javascript: bool,
    /// The window's size.
    pub size: (u32, u32),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lang: "en".to_owned(),
            javascript: true,
            size: (1280, 900),
        }
    }
}

fn which(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
                .find(|p| p.is_file())
        })
}

fn skip(why: &str) -> Option<Browser> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "browser tests cannot run: {why} (CI=true requires them; .ci/run installs chromium and chromium-driver)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: browser tests: {why}");
    }
    None
}

/// One HTTP/1.1 exchange with the driver: (status, JSON body).
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("chromedriver: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("chromedriver: {e}"))?;
    // Read the head, then exactly the body it announces: the driver may keep the
    // connection open whatever the request said.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("chromedriver: {e}"))?;
        if n == 0 {
            return Err(format!(
                "chromedriver: closed before a full head ({} bytes)",
                raw.len()
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("chromedriver: bad status line {head:?}"))?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let mut body = raw[head_end + 4..].to_vec();
    let body = if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok())
    {
        while body.len() < length {
            let n = stream
                .read(&mut buf)
                .map_err(|e| format!("chromedriver: {e}"))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&body[..length.min(body.len())]).into_owned()
    } else {
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        // Chunked or until close: read until the terminal chunk or the end.
        loop {
            if chunked && body.ends_with(b"0\r\n\r\n") {
                break;
            }
            let n = stream
                .read(&mut buf)
                .map_err(|e| format!("chromedriver: {e}"))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if chunked { dechunk(&text) } else { text }
    };
    let value = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).map_err(|e| format!("chromedriver: {e} in {body:?}"))?
    };
    Ok((status, value))
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts Chromium with `options`, for the test `name` (its failure screenshots are
    /// named after it), or `None` (see the module documentation).
    pub fn start(name: &str, options: &Options) -> Option<Browser> {
        let Some(chromium) = which(&["/usr/bin/chromium", "chromium", "chromium-browser"]) else {
            return skip("chromium not found (package chromium)");
        };
        let Some(chromedriver) = which(&["/usr/bin/chromedriver", "chromedriver"]) else {
            return skip("chromedriver not found (package chromium-driver)");
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut driver = match driver {
            Ok(d) => d,
            Err(e) => return skip(&format!("cannot start {}: {e}", chromedriver.display())),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not listen on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut prefs = json!({"intl.accept_languages": options.lang});
        if !options.javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-sync",
                    format!("--lang={}", options.lang),
                    format!("--window-size={},{}", options.size.0, options.size.1),
                ],
                "prefs": prefs,
            },
        }}});
        let created = exchange(port, "POST", "/session", Some(&capabilities));
        let session = match created {
            Ok((200, v)) => v["value"]["sessionId"].as_str().map(str::to_owned),
            Ok((status, v)) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver refused a session ({status}): {v}");
            }
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("{e}");
            }
        };
        let Some(session) = session else {
            let _ = driver.kill();
            let _ = driver.wait();
            panic!("chromedriver gave no session id");
        };
        Some(Browser {
            driver,
            port,
            session,
            name: name.to_owned(),
        })
    }

    /// The driver process's id.
    pub fn pid(&self) -> u32 {
        self.driver.id()
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let path = format!("/session/{}{path}", self.session);
        let body = match (method, body) {
            ("POST", None) => Some(json!({})),
            (_, b) => b,
        };
        let (status, value) = exchange(self.port, method, &path, body.as_ref())?;
        if status == 200 {
            Ok(value["value"].clone())
        } else {
            Err(format!(
                "{method} {path}: {status} {}: {}",
                value["value"]["error"], value["value"]["message"]
            ))
        }
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.ok("POST", "/url", Some(json!({"url": url})));
    }

    /// The page's address.
    pub fn url(&self) -> String {
        self.ok("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.ok("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.ok("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn element_of(value: &Value) -> Option<Element> {
        value[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned()))
    }

    /// The elements `css` selects now (none is not an error).
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .ok()
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(Self::element_of).collect())
        })
        .unwrap_or_default()
    }

    /// The first element `css` selects, waiting up to [`WAIT`] for it; panics when none
    /// appears.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css, WAIT)
            .unwrap_or_else(|| panic!("no element {css:?} on {} within {WAIT:?}", self.url()))
    }

    /// The first element `css` selects within `wait`.
    pub fn try_find(&self, css: &str, wait: Duration) -> Option<Element> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(e) = self.find_all(css).into_iter().next() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to [`WAIT`] until the page's address contains `part`.
    pub fn wait_for_url(&self, part: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.url().contains(part) {
            assert!(
                Instant::now() < deadline,
                "the page stayed at {} (waiting for {part:?})",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to [`WAIT`] until the page's address no longer contains `part` (a form
    /// sent, its answer loaded).
    pub fn wait_to_leave(&self, part: &str) {
        let deadline = Instant::now() + WAIT;
        while self.url().contains(part) {
            assert!(
                Instant::now() < deadline,
                "the page stayed at {} (waiting to leave {part:?})",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An element's visible text.
    pub fn text(&self, e: &Element) -> String {
        self.ok("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An element's attribute (or property).
    pub fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.ok("GET", &format!("/element/{}/attribute/{name}", e.0), None)
            .as_str()
            .map(str::to_owned)
    }

    /// Clicks an element.
    pub fn click(&self, e: &Element) {
        self.ok("POST", &format!("/element/{}/click", e.0), None);
    }

    /// Replaces an input's value with `text`.
    pub fn fill(&self, e: &Element, text: &str) {
        self.ok("POST", &format!("/element/{}/clear", e.0), None);
        self.ok(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        );
    }

    /// Fills the input `css` with `text`.
    pub fn fill_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.fill(&e, text);
    }

    /// Chooses the option of value `value` of the select `css`.
    pub fn select(&self, css: &str, value: &str) {
        let option = self.find(&format!("{css} option[value=\"{value}\"]"));
        self.click(&option);
    }

    /// The element that has the focus.
    pub fn active(&self) -> Element {
        Self::element_of(&self.ok("GET", "/element/active", None))
            .unwrap_or_else(|| panic!("no focused element"))
    }

    /// Presses `keys` on the keyboard, as a person would (to whatever has the focus).
    /// WebDriver key codes: [`keys::TAB`], [`keys::ENTER`], …
    pub fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.ok(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
        self.ok("DELETE", "/actions", None);
    }

    /// Runs `script` in the page (`arguments` as its arguments) and gives its result.
    pub fn execute(&self, script: &str, arguments: Value) -> Value {
        self.ok(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": arguments})),
        )
    }

    /// Answers the page's `confirm()` dialog (accept or dismiss), if one is open.
    pub fn answer_dialog(&self, accept: bool) -> Option<String> {
        let text = self.call("GET", "/alert/text", None).ok()?;
        let path = if accept {
            "/alert/accept"
        } else {
            "/alert/dismiss"
        };
        self.call("POST", path, None).ok()?;
        text.as_str().map(str::to_owned)
    }

    /// Saves a PNG of the window at `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.ok("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Saves a PNG of the whole page (not only the window) at `path`: the window is
    /// resized to the page's height for the shot, then back.
    pub fn screenshot_page(&self, path: &Path) {
        let height = self
            .execute("return document.documentElement.scrollHeight;", json!([]))
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 4000);
        let rect = self.ok("GET", "/window/rect", None);
        self.ok(
            "POST",
            "/window/rect",
            Some(json!({"width": rect["width"], "height": height + 120})),
        );
        self.screenshot(path);
        self.ok(
            "POST",
            "/window/rect",
            Some(json!({"width": rect["width"], "height": rect["height"]})),
        );
    }
}

/// Where failure screenshots go.
fn failures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIE_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| manifest.join("../../target"), PathBuf::from)
        .join("browser-failures")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = failures_dir();
            let png = dir.join(format!("{}.png", self.name));
            if self.call("GET", "/screenshot", None).is_ok() {
                self.screenshot(&png);
                let _ = std::fs::write(dir.join(format!("{}.html", self.name)), self.source());
                #[allow(clippy::print_stderr)]
                {
                    eprintln!(
                        "browser test failed at {}: screenshot {}",
                        self.url(),
                        png.display()
                    );
                }
            }
        }
        let _ = exchange(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// WebDriver's codes of special keys, for [`Browser::press`].
pub mod keys {
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Shift (held for the next key).
    pub const SHIFT: &str = "\u{E008}";
    /// Space.
    pub const SPACE: &str = "\u{E00D}";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
        assert_eq!(dechunk("0\r\n\r\n"), "");
    }
}
