//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): the SCRAM
//! credentials SASL authenticates with, read and changed at run time, answered as Kafka's
//! `ScramImage.describe` and `ScramControlManager.alterCredentials` answer. A credential
//! upserted here authenticates the next SCRAM exchange of that user; a deleted one no
//! longer does. Not kept in a data dir.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::sasl::scram::{ScramCredential, ScramHash, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::sasl::{SaslUsers, ScramStore};

impl Api for DescribeUserScramCredentialsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
    /// Kafka's `getErrorResponse`: the error at the top and once per user named.
    fn fail(&self, _version: i16, code: i16) -> DescribeUserScramCredentialsResponse {
        let users = self.users.as_ref().map_or(0, Vec::len);
        DescribeUserScramCredentialsResponse::default()
            .with_error_code(code)
            .with_results(vec![
                DescribeUserScramCredentialsResult::default()
                    .with_error_code(code);
                users
            ])
    }
}

impl Api for AlterUserScramCredentialsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };
    /// Kafka's `getErrorResponse`: the error for each user named, by name.
    fn fail(&self, _version: i16, code: i16) -> AlterUserScramCredentialsResponse {
        let mut users: Vec<&StrBytes> = self
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(self.upsertions.iter().map(|u| &u.name))
            .collect();
        users.sort();
        users.dedup();
        AlterUserScramCredentialsResponse::default().with_results(
            users
                .into_iter()
                .map(|u| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(u.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

pub(crate) fn describe_user_scram_credentials(
    users: &SaslUsers,
    req: DescribeUserScramCredentialsRequest,
    _version: i16,
) -> DescribeUserScramCredentialsResponse {
    // no users named: every user with a credential; named twice: DUPLICATE_RESOURCE
    let named: Vec<(String, bool)> = match req.users.as_deref() {
        None | Some([]) => users
            .scram_users()
            .into_iter()
            .map(|u| (u, false))
            .collect(),
        Some(named) => {
            let mut unique: Vec<(String, bool)> = Vec::new();
            for user in named {
                match unique
                    .iter_mut()
                    .find(|(u, _)| u.as_str() == user.name.as_str())
                {
                    Some((_, twice)) => *twice = true,
                    None => unique.push((user.name.to_string(), false)),
                }
            }
            unique
        }
    };
    let results = named
        .into_iter()
        .map(|(user, twice)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(sb(&user));
            let credentials = users.scram_credentials(&user);
            if twice {
                result
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(sb(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))))
            } else if credentials.is_empty() {
                result
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(sb(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    ))))
            } else {
                result.with_credential_infos(
                    credentials
                        .into_iter()
                        .map(|(hash, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(hash.type_id())
                                .with_iterations(i32::try_from(iterations).unwrap_or(i32::MAX))
                        })
                        .collect(),
                )
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// A refused alteration: the code and Kafka's message.
type Refusal = (ResponseError, &'static str);

/// Kafka's `validateScramUsernameAndMechanism`.
fn check_user_and_mechanism(name: &str, mechanism: i8) -> Result<ScramHash, Refusal> {
    if name.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramHash::from_type(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism",
    ))
}

fn check_deletion(
    store: &ScramStore<'_>,
    d: &ScramCredentialDeletion,
) -> Result<ScramHash, Refusal> {
    let hash = check_user_and_mechanism(&d.name, d.mechanism)?;
    if !store.has(&d.name, hash) {
        return Err((
            ResponseError::ResourceNotFound,
            "Attempt to delete a user credential that does not exist",
        ));
    }
    Ok(hash)
}

fn check_upsertion(u: &ScramCredentialUpsertion) -> Result<ScramHash, Refusal> {
    let hash = check_user_and_mechanism(&u.name, u.mechanism)?;
    if u.iterations < MIN_ITERATIONS {
        return Err((ResponseError::UnacceptableCredential, "Too few iterations"));
    }
    if u.iterations > MAX_ITERATIONS {
        return Err((ResponseError::UnacceptableCredential, "Too many iterations"));
    }
    Ok(hash)
}

const TWICE: Refusal = (
    ResponseError::DuplicateResource,
    "A user credential cannot be altered twice in the same request",
);

/// Kafka's `alterCredentials`: each user is altered at most once per request (else
/// DUPLICATE_RESOURCE); the accepted deletions, then upsertions, then the refusals.
fn alter(
    store: &mut ScramStore<'_>,
    req: &AlterUserScramCredentialsRequest,
) -> Vec<AlterUserScramCredentialsResult> {
    let mut deletions: Vec<(&str, ScramHash)> = Vec::new();
    let mut upsertions: Vec<(&ScramCredentialUpsertion, ScramHash)> = Vec::new();
    let mut refused: Vec<(&str, Refusal)> = Vec::new();
    for d in &req.deletions {
        let name = d.name.as_str();
        if refused.iter().any(|(u, _)| *u == name) {
            continue;
        }
        if let Some(i) = deletions.iter().position(|(u, _)| *u == name) {
            deletions.remove(i);
            refused.push((name, TWICE));
            continue;
        }
        match check_deletion(store, d) {
            Ok(hash) => deletions.push((name, hash)),
            Err(e) => refused.push((name, e)),
        }
    }
    for u in &req.upsertions {
        let name = u.name.as_str();
        if refused.iter().any(|(r, _)| *r == name) {
            continue;
        }
        let deleted = deletions.iter().position(|(d, _)| *d == name);
        let upserted = upsertions.iter().position(|(x, _)| x.name.as_str() == name);
        if deleted.is_some() || upserted.is_some() {
            if let Some(i) = deleted {
                deletions.remove(i);
            }
            if let Some(i) = upserted {
                upsertions.remove(i);
            }
            refused.push((name, TWICE));
            continue;
        }
        match check_upsertion(u) {
            Ok(hash) => upsertions.push((u, hash)),
            Err(e) => refused.push((name, e)),
        }
    }
    let ok = |user: &str| {
        AlterUserScramCredentialsResult::default()
            .with_user(sb(user))
            .with_error_message(None)
    };
    let mut results = Vec::new();
    for (user, hash) in deletions {
        store.delete(user, hash);
        tracing::info!(user, mechanism = hash.type_id(), "SCRAM credential deleted");
        results.push(ok(user));
    }
    for (u, hash) in upsertions {
        let iterations = u32::try_from(u.iterations).unwrap_or(0);
        let credential = ScramCredential::from_salted_password(
            hash,
            u.salt.to_vec(),
            &u.salted_password,
            iterations,
        );
        store.upsert(u.name.as_str(), hash, credential);
        tracing::info!(user = %u.name.as_str(), mechanism = hash.type_id(), "SCRAM credential upserted");
        results.push(ok(u.name.as_str()));
    }
    results.extend(refused.into_iter().map(|(user, (code, message))| {
        AlterUserScramCredentialsResult::default()
            .with_user(sb(user))
            .with_error_code(code.code())
            .with_error_message(Some(sb(message)))
    }));
    results
}

pub(crate) fn alter_user_scram_credentials(
    users: &SaslUsers,
    req: AlterUserScramCredentialsRequest,
    _version: i16,
) -> AlterUserScramCredentialsResponse {
    let results = users.alter_scram(|store| alter(store, &req));
    AlterUserScramCredentialsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests;
