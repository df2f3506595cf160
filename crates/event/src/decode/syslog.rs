//! placeholder
pub(crate) const APPNAME: &str = "appname";
pub(crate) const FACILITY: &str = "facility";
pub(crate) const HOSTNAME: &str = "hostname";
