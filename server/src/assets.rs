//! The dashboard, embedded in the binary (no CDN, works offline).

/// `GET /`.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// `GET /app.js`.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// `GET /style.css`.
pub const STYLE_CSS: &str = include_str!("../assets/style.css");
