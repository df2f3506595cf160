//! Accessibility checks of the console, run as tests on what the browser receives: the
//! stylesheet's colour pairs meet WCAG 2.1 contrast (4.5:1 for text, 3:1 for the focus
//! ring and chart marks), and every form control of every template has a label (a
//! `<label for>` naming its id, or an `aria-label`).

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::console::assets::CSS;

    /// The custom properties of `:root` in the stylesheet: name → `#rrggbb`.
    fn variables() -> BTreeMap<String, String> {
        let root = CSS
            .split(":root {")
            .nth(1)
            .and_then(|r| r.split('}').next())
            .expect("a :root block");
        root.lines()
            .filter_map(|l| {
                let (name, value) = l.trim().trim_end_matches(';').split_once(':')?;
                Some((
                    name.trim().trim_start_matches("--").to_owned(),
                    value.trim().to_owned(),
                ))
            })
            .collect()
    }

    fn rgb(hex: &str) -> [f64; 3] {
        let hex = hex.trim_start_matches('#');
        assert_eq!(hex.len(), 6, "colours are #rrggbb: {hex}");
        let c = |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
        [c(0), c(2), c(4)]
    }

    /// WCAG 2.1 relative luminance.
    fn luminance(hex: &str) -> f64 {
        let lin = |c: f64| {
            let c = c / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = rgb(hex);
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn the_contrast_formula() {
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
        assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
    }

    #[test]
    fn text_and_marks_have_enough_contrast() {
        let v = variables();
        let get = |name: &str| {
            v.get(name)
                .unwrap_or_else(|| panic!("--{name} is not defined"))
        };
        let mut text_pairs = vec![
            ("fg", "bg"),
            ("fg", "panel"),
            ("muted", "bg"),
            ("muted", "panel"),
            ("link", "bg"),
            ("accent-fg", "accent"),
            ("error-fg", "error-bg"),
            ("notice-fg", "notice-bg"),
            ("hit-fg", "hit-bg"),
            ("top-fg", "top-bg"),
        ];
        for level in ["critical", "high", "medium", "low", "informational"] {
            text_pairs.push((
                Box::leak(format!("level-{level}-fg").into_boxed_str()),
                Box::leak(format!("level-{level}-bg").into_boxed_str()),
            ));
        }
        let mut failures = Vec::new();
        for (fg, bg) in &text_pairs {
            let c = contrast(get(fg), get(bg));
            if c < 4.5 {
                failures.push(format!("--{fg} on --{bg}: {c:.2}:1 < 4.5:1"));
            }
        }
        // Non-text: the focus ring and the chart's bars against what they are drawn on.
        for (mark, bg) in [
            ("focus", "bg"),
            ("focus", "top-bg"),
            ("accent", "panel"),
            ("border", "bg"),
        ] {
            let c = contrast(get(mark), get(bg));
            let need = if mark == "border" { 1.3 } else { 3.0 };
            if c < need {
                failures.push(format!("--{mark} on --{bg}: {c:.2}:1 < {need}:1"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// The templates' form controls: `<input>` (but hidden ones), `<select>`, `<textarea>`.
    #[test]
    fn every_control_has_a_label() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/console");
        let mut unlabelled = Vec::new();
        let mut controls = 0;
        for entry in std::fs::read_dir(dir).expect("templates") {
            let path = entry.expect("entry").path();
            let html = std::fs::read_to_string(&path).expect("template");
            for tag in ["<input", "<select", "<textarea"] {
                for (at, _) in html.match_indices(tag) {
                    let end = html[at..].find('>').map_or(html.len(), |e| at + e);
                    let element = &html[at..end];
                    if element.contains("type=\"hidden\"") || element.contains("type=\"submit\"") {
                        continue;
                    }
                    controls += 1;
                    let labelled = element.contains("aria-label=")
                        || element
                            .split("id=\"")
                            .nth(1)
                            .and_then(|rest| rest.split('"').next())
                            .is_some_and(|id| html.contains(&format!("<label for=\"{id}\"")));
                    if !labelled {
                        unlabelled.push(format!("{}: {element}>", path.display()));
                    }
                }
            }
        }
        assert!(
            controls > 30,
            "only {controls} controls found: the scan is broken"
        );
        assert!(
            unlabelled.is_empty(),
            "controls without a label: {unlabelled:#?}"
        );
    }

    /// Every page has a language, a title, one `h1` and a skip link to its main content.
    #[test]
    fn pages_have_a_language_a_title_and_a_heading() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/console");
        let base = std::fs::read_to_string(dir.join("base.html")).expect("base");
        assert!(base.contains("<html lang=\"{{ chrome.lang() }}\">"));
        assert!(base.contains("<title>"));
        assert!(base.contains("class=\"skip\" href=\"#main\""));
        assert!(base.contains("<main id=\"main\">"));
        for entry in std::fs::read_dir(&dir).expect("templates") {
            let path = entry.expect("entry").path();
            let html = std::fs::read_to_string(&path).expect("template");
            if html.contains("{% extends") {
                assert_eq!(html.matches("<h1").count(), 1, "{}: one h1", path.display());
            }
            // Nothing inline that the CSP would block (and that would be an injection
            // point): no style attribute, no event handler, no script but the one file.
            assert!(!html.contains("style="), "{}: style=", path.display());
            assert!(
                !html.contains(" onclick=")
                    && !html.contains(" onload=")
                    && !html.contains(" onsubmit="),
                "{}: an inline handler",
                path.display()
            );
            assert_eq!(
                html.matches("<script").count(),
                html.matches("<script src=\"{{ chrome.js }}\" defer></script>")
                    .count(),
                "{}: an inline script",
                path.display()
            );
            // Tables have header cells with a scope.
            assert_eq!(
                html.matches("<th>").count(),
                0,
                "{}: every <th> has a scope",
                path.display()
            );
        }
    }
}
