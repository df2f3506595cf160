//! The console's static files, embedded in the binary: one stylesheet and one script,
//! both written for the project (no third-party file, no build step).
//!
//! Each is served under a name that carries its content's hash
//! (`console.3f2a9c01d4.css`), so it can be cached for a year: a new build with a changed
//! file has a new name, and pages link to it through [`css`] and [`js`].

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The stylesheet.
pub const CSS: &str = include_str!("assets/console.css");
/// The script.
pub const JS: &str = include_str!("assets/console.js");

struct Asset {
    name: String,
    body: &'static str,
    mime: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &'static str, mime: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        name: format!("{stem}.{hash}.{ext}"),
        body,
        mime,
    }
}

fn all() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            hashed("console", "css", CSS, "text/css; charset=utf-8"),
            hashed("console", "js", JS, "text/javascript; charset=utf-8"),
        ]
    })
}

/// The stylesheet's path.
pub fn css() -> String {
    format!("/console/assets/{}", all()[0].name)
}

/// The script's path.
pub fn js() -> String {
    format!("/console/assets/{}", all()[1].name)
}

/// `GET /console/assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match all().iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.mime)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_hash_of_the_content() {
        assert!(css().starts_with("/console/assets/console."));
        assert!(css().ends_with(".css"));
        assert!(js().ends_with(".js"));
        assert_ne!(css(), js());
        assert_eq!(
            hashed("a", "css", "x", "t").name,
            hashed("a", "css", "x", "t").name
        );
        assert_ne!(
            hashed("a", "css", "x", "t").name,
            hashed("a", "css", "y", "t").name
        );
    }

    #[test]
    fn the_script_and_stylesheet_load_nothing_from_elsewhere() {
        for text in [CSS, JS] {
            for forbidden in ["http://", "https://", "@import", "eval(", "innerHTML ="] {
                assert!(!text.contains(forbidden), "{forbidden}");
            }
        }
    }
}
