//! Postgres URLs as users write them: SQLAlchemy's `postgresql+psycopg://` (the
//! contract's form) or plain `postgres://`. sqlx only knows the plain form.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrlError {
    pub value: String,
}

impl fmt::Display for DatabaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a Postgres URL: expected postgres://USER:PASSWORD@HOST:PORT/DB \
             (postgresql+psycopg://… is accepted too)",
            redact(&self.value)
        )
    }
}

/// The URL sqlx understands: the `+driver` suffix of the scheme dropped.
pub fn normalize(url: &str) -> Result<String, DatabaseUrlError> {
    let error = || DatabaseUrlError {
        value: url.to_string(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(error)?;
    let base = scheme.split('+').next().unwrap_or(scheme);
    if base != "postgres" && base != "postgresql" {
        return Err(error());
    }
    if rest.is_empty() {
        return Err(error());
    }
    Ok(format!("postgres://{rest}"))
}

/// The URL (or key/value connection string) with every secret replaced by `***`: the
/// userinfo password and secret query parameters (`password=`, `sslpassword=`, …).
pub fn redact(url: &str) -> String {
    super::secrets::mask_connection(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_driver_suffix_is_dropped() {
        assert_eq!(
            normalize("postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test")
                .unwrap(),
            "postgres://wordloom:wordloom@localhost:5435/wordloom_test"
        );
        assert_eq!(normalize("postgres://a@b/c").unwrap(), "postgres://a@b/c");
    }

    #[test]
    fn other_schemes_are_refused_without_leaking_the_password() {
        let error = normalize("mysql://u:hunter2@h/db").unwrap_err().to_string();
        assert!(error.contains("mysql://u:***@h/db"), "{error}");
        assert!(!error.contains("hunter2"));
        assert!(normalize("localhost:5435").is_err());
    }

    #[test]
    fn password_is_redacted_in_userinfo_and_query() {
        let url = "postgresql+psycopg://wordloom:s3cr%40t@localhost:5435/db?sslmode=disable";
        assert_eq!(
            redact(url),
            "postgresql+psycopg://wordloom:***@localhost:5435/db?sslmode=disable"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://u:pw@h/db?password=QSecret9"),
            "postgres://u:***@h/db?password=***"
        );
    }

    #[test]
    fn a_key_value_connection_string_is_refused_with_its_password_masked() {
        let error = normalize("host=h password='Kv Secret' dbname=d")
            .unwrap_err()
            .to_string();
        assert!(error.contains("host=h password='***' dbname=d"), "{error}");
        assert!(!error.contains("Kv Secret"), "{error}");
    }
}
