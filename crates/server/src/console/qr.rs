//! The QR code of a TOTP enrolment, drawn as SVG (the `qrcodegen` encoder; our drawing).
//! Error correction M, a quiet zone of four modules as the standard asks, one path for
//! every dark module so that the page stays small.

use qrcodegen::{QrCode, QrCodeEcc};

use super::svg::escape;

/// The SVG of `text` as a QR code, `title` as its accessible name; `None` when the text is
/// too long for any QR version (an otpauth URI is far from that).
pub fn svg(text: &str, title: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let quiet = 4;
    let full = size + 2 * quiet;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + quiet, y + quiet));
            }
        }
    }
    Some(format!(
        r#"<svg class="qr" viewBox="0 0 {full} {full}" width="240" height="240" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges"><title>{t}</title><rect class="qr-light" width="{full}" height="{full}"/><path class="qr-dark" d="{path}"/></svg>"#,
        t = escape(title)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_uri_draws_with_a_quiet_zone() {
        let uri = "otpauth://totp/Vigie:lea.l1?secret=JBSWY3DPEHPK3PXP&issuer=Vigie";
        let svg = svg(uri, "QR").expect("drawn");
        let code = QrCode::encode_text(uri, QrCodeEcc::Medium).unwrap();
        let full = code.size() + 8;
        assert!(svg.contains(&format!("viewBox=\"0 0 {full} {full}\"")));
        let dark = (0..code.size())
            .flat_map(|y| (0..code.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| code.get_module(x, y))
            .count();
        assert_eq!(svg.matches("h1v1h-1z").count(), dark);
        // The finder pattern's corner module is dark, at the quiet zone's edge.
        assert!(svg.contains("M4,4h1v1h-1z"));
        assert!(!svg.contains("M3,"), "nothing in the quiet zone");
        assert!(svg.contains("<title>QR</title>"));
    }

    #[test]
    fn text_too_long_is_refused() {
        assert!(svg(&"x".repeat(8000), "QR").is_none());
    }
}
