//! Connecting the session to its sources: Postgres (migrated when ours, its schema
//! checked), Docker, and the drill's Elasticsearch index.

use std::time::Duration;

use serde_json::json;

use super::*;

impl Session {
    /// Connects to Postgres; migrates it when the profile marks it as ours.
    pub async fn connect_db(&mut self) -> Result<(), String> {
        // A short acquire timeout: a database that went away is reported within a
        // second, not after the default wait, and the cockpit keeps drawing.
        let pool = crate::db::connect_with_timeout(
            &self.profile.sqlx_database_url(),
            &self.profile.redacted_database_url(),
            4,
            Duration::from_millis(750),
        )
        .await
        .map_err(|error| match self.profile.sandbox {
            Some(_) => error_text(error.in_sandbox()),
            None => error_text(error),
        })?;
        if self.profile.database_is_ours {
            crate::db::migrate::apply(&pool).await.map_err(|e| {
                format!(
                    "migrating {} failed: {e}",
                    self.profile.redacted_database_url()
                )
            })?;
        }
        // Reads still work on a database that lacks a column; writes are refused, naming it.
        let checked = crate::db::schema::check(&pool).await;
        self.pool = Some(pool);
        match checked {
            Ok(()) => Ok(()),
            Err(error) => {
                let text = format!("{}: {error}", self.profile.redacted_database_url());
                self.schema_problem = Some(text.clone());
                Err(text)
            }
        }
    }

    /// Where the drill's services run: the sandbox's simulators, else the compose
    /// project once Docker is connected (`None` before).
    pub fn platform(&self) -> Option<&dyn crate::platform::Platform> {
        match (&self.profile.sandbox, &self.docker) {
            (Some(sandbox), _) => Some(sandbox.as_ref()),
            (None, Some(docker)) => Some(docker),
            (None, None) => None,
        }
    }

    pub async fn connect_docker(&mut self) -> Result<(), String> {
        if self.profile.sandbox.is_some() {
            return Err("the sandbox runs without Docker: its services are simulated".into());
        }
        let engine = self.profile.docker_engine.as_ref().map_err(error_text)?;
        let docker = ComposeDocker::connect(engine, &self.profile.compose_project)
            .await
            .map_err(error_text)?;
        self.docker = Some(docker);
        Ok(())
    }

    /// Creates the index when it is missing (a drill on a fresh stack). First, once per
    /// session, the leftovers of dead sessions are restored (a write block left on this
    /// very index among them): every start goes through here before its drill.
    pub async fn ensure_index(&mut self) -> Result<(), String> {
        self.sweep_leftovers().await;
        let url = format!(
            "{}/{}",
            self.profile.elastic_url, self.profile.elastic_index
        );
        let exists = self.http.head(&url).send().await.map_err(|e| {
            format!(
                "cannot reach Elasticsearch at {}: {e}",
                self.profile.elastic_url
            )
        })?;
        if exists.status().is_success() {
            return Ok(());
        }
        let created = self
            .http
            .put(&url)
            .json(&json!({}))
            .send()
            .await
            .map_err(|e| format!("creating index {url}: {e}"))?;
        if created.status().is_success() || created.status().as_u16() == 400 {
            Ok(())
        } else {
            Err(format!(
                "creating index {url} answered HTTP {}",
                created.status()
            ))
        }
    }
}
