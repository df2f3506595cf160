//! Charts drawn by the server as SVG: the search histogram and the health sparklines. No
//! script and no style attribute (the console's CSP allows neither inline): colours come
//! from the stylesheet through classes, and every chart has a text alternative.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A bar of a histogram: its label (the bucket's start) and count.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The bucket's label (its start time).
    pub label: String,
    /// Its count.
    pub count: u64,
    /// Where a click on it goes (the search narrowed to the bucket), if anywhere.
    pub href: Option<String>,
}

/// A bar chart of `bars`, `title` as its accessible name. Heights are relative to the
/// largest bar; an empty chart is a labelled empty frame.
pub fn histogram(bars: &[Bar], title: &str) -> String {
    const W: f64 = 800.0;
    const H: f64 = 120.0;
    let max = bars.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let width = W / bars.len().max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="histogram" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let h = (b.count as f64 / max * (H - 2.0)).max(if b.count > 0 { 1.0 } else { 0.0 });
        let x = i as f64 * width;
        let rect = format!(
            r#"<rect class="bar" x="{x:.2}" y="{:.2}" width="{:.2}" height="{h:.2}"><title>{}: {}</title></rect>"#,
            H - h,
            (width - 1.0).max(0.5),
            escape(&b.label),
            b.count
        );
        match &b.href {
            Some(href) => {
                let _ = write!(out, r#"<a href="{}">{rect}</a>"#, escape(href));
            }
            None => out.push_str(&rect),
        }
    }
    out.push_str("</svg>");
    out
}

/// A sparkline of `values` (oldest first), `title` as its accessible name.
pub fn sparkline(values: &[f64], title: &str) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let step = W / (values.len().max(2) - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                H - 1.0 - v / max * (H - 2.0)
            )
        })
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><polyline points="{}"/></svg>"#,
        points.join(" "),
        t = escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_their_text() {
        let svg = histogram(
            &[
                Bar {
                    label: "a<b".into(),
                    count: 10,
                    href: Some("/x?q=a&b".into()),
                },
                Bar {
                    label: "c".into(),
                    count: 5,
                    href: None,
                },
                Bar {
                    label: "d".into(),
                    count: 0,
                    href: None,
                },
            ],
            "Events \"per\" bucket",
        );
        assert!(svg.contains(r#"height="118.00""#), "{svg}");
        assert!(svg.contains(r#"height="59.00""#), "{svg}");
        assert!(svg.contains(r#"height="0.00""#), "{svg}");
        assert!(svg.contains("a&lt;b: 10"));
        assert!(svg.contains(r#"href="/x?q=a&amp;b""#));
        assert!(svg.contains("Events &quot;per&quot; bucket"));
        assert!(!svg.contains("style="), "no inline style under the CSP");
        assert!(histogram(&[], "empty").contains("<title>empty</title>"));
    }

    #[test]
    fn sparklines() {
        let svg = sparkline(&[0.0, 2.0, 1.0], "rate");
        assert!(
            svg.contains(r#"points="0.0,23.0 60.0,1.0 120.0,12.0""#),
            "{svg}"
        );
        assert!(sparkline(&[], "none").contains("points=\"\""));
    }
}
