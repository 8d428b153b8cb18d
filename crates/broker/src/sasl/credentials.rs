//! The SCRAM credentials as DescribeUserScramCredentials and AlterUserScramCredentials see
//! them: what users have, and changes that take effect for the next authentication.
//! Changed credentials live in memory only (a data dir does not keep them).

use std::collections::HashMap;

use super::scram::{ScramCredential, ScramHash};
use super::{SaslUsers, Secrets};

/// The SCRAM credentials, locked for a change (see [`SaslUsers::alter_scram`]).
pub(crate) struct ScramStore<'a> {
    users: &'a mut HashMap<String, Secrets>,
}

impl std::fmt::Debug for ScramStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramStore")
            .field("users", &self.users.len())
            .finish()
    }
}

impl ScramStore<'_> {
    /// Whether `user` has a credential for `hash`.
    pub(crate) fn has(&self, user: &str, hash: ScramHash) -> bool {
        self.users
            .get(user)
            .is_some_and(|s| s.scram(hash).is_some())
    }

    /// Adds or replaces `user`'s credential for `hash`.
    pub(crate) fn upsert(&mut self, user: &str, hash: ScramHash, credential: ScramCredential) {
        let secrets = self.users.entry(user.to_owned()).or_default();
        *secrets.scram_mut(hash) = Some(credential);
    }

    /// Deletes `user`'s credential for `hash` (a user left with nothing is forgotten).
    pub(crate) fn delete(&mut self, user: &str, hash: ScramHash) {
        if let Some(secrets) = self.users.get_mut(user) {
            *secrets.scram_mut(hash) = None;
            if secrets.password.is_none()
                && ScramHash::ALL.iter().all(|h| secrets.scram(*h).is_none())
            {
                self.users.remove(user);
            }
        }
    }
}

impl SaslUsers {
    /// The SCRAM mechanisms `user` has a credential for, with their iterations.
    pub(crate) fn scram_credentials(&self, user: &str) -> Vec<(ScramHash, u32)> {
        let users = self.read();
        let Some(secrets) = users.get(user) else {
            return Vec::new();
        };
        ScramHash::ALL
            .iter()
            .filter_map(|h| secrets.scram(*h).map(|c| (*h, c.iterations())))
            .collect()
    }

    /// The users with at least one SCRAM credential, by name.
    pub(crate) fn scram_users(&self) -> Vec<String> {
        let users = self.read();
        let mut names: Vec<String> = users
            .iter()
            .filter(|(_, s)| ScramHash::ALL.iter().any(|h| s.scram(*h).is_some()))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Runs `change` with the credentials locked: checks and changes it makes are atomic
    /// with respect to authentications and other changes.
    pub(crate) fn alter_scram<T>(&self, change: impl FnOnce(&mut ScramStore<'_>) -> T) -> T {
        let mut users = self.write();
        change(&mut ScramStore { users: &mut users })
    }
}

#[cfg(test)]
mod tests {
    use super::super::SaslUser;
    use super::*;

    #[test]
    fn credentials_are_added_described_and_deleted() {
        let users = SaslUsers::new(&[SaslUser {
            name: "admin".to_owned(),
            password: "secret".to_owned(),
        }]);
        assert_eq!(users.scram_users(), vec!["admin".to_owned()]);
        assert_eq!(
            users.scram_credentials("admin"),
            vec![(ScramHash::Sha256, 4096), (ScramHash::Sha512, 4096)]
        );
        let credential =
            ScramCredential::from_salted_password(ScramHash::Sha512, b"salt".to_vec(), b"x", 8192);
        users.alter_scram(|s| {
            assert!(!s.has("alice", ScramHash::Sha512));
            s.upsert("alice", ScramHash::Sha512, credential);
            assert!(s.has("alice", ScramHash::Sha512));
        });
        assert_eq!(
            users.scram_credentials("alice"),
            vec![(ScramHash::Sha512, 8192)]
        );
        assert_eq!(
            users.scram_users(),
            vec!["admin".to_owned(), "alice".to_owned()]
        );
        users.alter_scram(|s| {
            s.delete("alice", ScramHash::Sha512);
            s.delete("admin", ScramHash::Sha256);
            s.delete("admin", ScramHash::Sha512);
        });
        assert!(users.scram_credentials("alice").is_empty());
        // a configured user keeps its password (PLAIN) without SCRAM credentials
        assert!(users.scram_users().is_empty());
        assert!(users.plain(b"\0admin\0secret").is_ok());
        assert!(users.required());
    }
}
