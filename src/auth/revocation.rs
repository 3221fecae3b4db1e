//! The revocations in force, held in memory so that checking a call costs no database query.
//!
//! Loaded at start; a revocation made here updates the set before its call is answered, and
//! one made by another server process sharing PostgreSQL arrives through the change relay
//! (`live.rs`, LISTEN/NOTIFY), which prompts a reload. Announcements made while a process's
//! listener is down are lost, so the set is also reloaded when the listener (re)connects and
//! every [`Revocations::keep_current`] interval. On SQLite the server is the only process.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::audit::Actor;
use crate::domain::revocation::{NewRevocation, Revocation, RevocationSet, TokenFacts};
use crate::domain::time::Timestamp;
use crate::error::Result;
use crate::store::Store;

/// What a process announces to the others when it recorded a revocation. Not a campaign id
/// (those have no ':'), so the change relay tells the two apart.
pub const REVOCATIONS_CHANGED: &str = "canvass:revocations";

pub struct Revocations {
    set: RwLock<Arc<RevocationSet>>,
    /// Held by a reload from reading the table until its set is in place, and by a revocation
    /// from its insert until it is applied, so that a reload that read the table just before
    /// the insert cannot put back a set without it.
    changing: tokio::sync::Mutex<()>,
}

impl Revocations {
    /// The revocations stored in `store`.
    pub async fn load(store: &Store) -> Result<Self> {
        let revocations = Self {
            set: RwLock::new(Arc::default()),
            changing: tokio::sync::Mutex::new(()),
        };
        revocations.reload(store).await?;
        Ok(revocations)
    }

    /// Whether a revocation refuses the token.
    pub fn refuses(&self, token: TokenFacts<'_>) -> bool {
        let set = self
            .set
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !set.is_empty() && set.refuses(token)
    }

    /// Records a revocation by `actor` (with its audit entry), applies it here, and tells the other processes
    /// sharing the database.
    ///
    /// # Errors
    /// UNAVAILABLE when the database is unreachable; nothing is revoked then.
    pub async fn revoke(
        &self,
        store: &Store,
        revocation: &NewRevocation,
        actor: &Actor,
    ) -> Result<Revocation> {
        let changing = self.changing.lock().await;
        let entry = revocation.audit_entry(actor, Timestamp::now());
        let stored = store.insert_revocation(revocation, &entry).await?;
        let revoked_by = actor.subject.as_str();
        self.update(|set| set.add(stored.target.clone()));
        drop(changing);
        tracing::info!(
            target = ?stored.target,
            revoked_by,
            reason = %stored.reason,
            "tokens revoked"
        );
        if let Err(error) = store
            .announce_changes(&[REVOCATIONS_CHANGED.to_owned()])
            .await
        {
            // The others reload on their schedule.
            tracing::warn!(%error, "could not announce a revocation to other processes");
        }
        Ok(stored)
    }

    /// Replaces the set with what the database holds.
    ///
    /// # Errors
    /// When the database cannot be read; the set stays as it was.
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let _changing = self.changing.lock().await;
        let rows = store.load_revocations().await?;
        let set = RevocationSet::new(rows.into_iter().map(|r| r.target));
        *self
            .set
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut RevocationSet)) {
        let mut guard = self
            .set
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(Arc::make_mut(&mut guard));
    }

    /// Reloads whenever `announced` is notified (another process revoked, or announcements
    /// may have been lost) and every `every` in any case. Runs until its task is dropped.
    pub async fn keep_current(
        self: Arc<Self>,
        store: Store,
        announced: Arc<Notify>,
        every: Duration,
    ) {
        loop {
            let _ = tokio::time::timeout(every, announced.notified()).await;
            if let Err(error) = self.reload(&store).await {
                tracing::warn!(%error, "cannot reload token revocations; keeping the ones we have");
            }
        }
    }
}
