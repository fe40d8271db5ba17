//! One TLS crypto provider for the whole process: rustls on ring. reqwest, sqlx and
//! bollard all speak TLS through rustls; with a single provider compiled in rustls would
//! pick it alone, but a test build also carries reqwest's aws-lc-rs default, so the
//! choice is made here, once, before anything opens a connection. (ring rather than
//! aws-lc-rs: aws-lc-rs's C build was the largest single item of a clean release build,
//! a minute of one core, and clone-to-first-screen time is a product figure.)

use std::sync::Once;

/// Installs ring as the process's provider (idempotent; a provider someone installed
/// first is kept).
pub fn install_provider() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder with the provider in place (reqwest has no default of its
/// own in the shipped binary and would panic without one).
pub fn http_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// A reqwest client with the defaults, the provider in place.
pub fn http_client() -> reqwest::Client {
    http_builder().build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_with_the_ring_provider_installed() {
        super::http_builder()
            .build()
            .expect("reqwest builds a client");
        let provider = rustls::crypto::CryptoProvider::get_default().expect("a provider");
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            format!("{:?}", provider.cipher_suites),
            format!("{:?}", ring.cipher_suites),
            "the process's provider is ring's"
        );
    }
}
