//! Unit tests of `scram_credentials`.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;

use super::*;
use crate::sasl::SaslUser;

fn users() -> SaslUsers {
    SaslUsers::new(&[SaslUser {
        name: "admin".to_owned(),
        password: "secret".to_owned(),
    }])
}

fn upsertion(name: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
    ScramCredentialUpsertion::default()
        .with_name(sb(name))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(bytes::Bytes::from_static(b"salt"))
        .with_salted_password(bytes::Bytes::from_static(b"salted"))
}

fn deletion(name: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(sb(name))
        .with_mechanism(mechanism)
}

fn alter_with(
    users: &SaslUsers,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16, Option<String>)> {
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(deletions)
        .with_upsertions(upsertions);
    alter_user_scram_credentials(users, req, 0)
        .results
        .into_iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )
        })
        .collect()
}

fn describe(users: &SaslUsers, names: Option<&[&str]>) -> DescribeUserScramCredentialsResponse {
    let req = DescribeUserScramCredentialsRequest::default().with_users(names.map(|n| {
        n.iter()
            .map(|u| UserName::default().with_name(sb(*u)))
            .collect()
    }));
    describe_user_scram_credentials(users, req, 0)
}

#[test]
fn upsert_describe_delete() {
    let users = users();
    let r = describe(&users, Some(&["alice"]));
    assert_eq!(
        r.results[0].error_code,
        ResponseError::ResourceNotFound.code()
    );
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Attempt to describe a user credential that does not exist: alice")
    );
    assert_eq!(
        alter_with(&users, vec![], vec![upsertion("alice", 1, 10_000)]),
        vec![("alice".to_owned(), 0, None)]
    );
    let r = describe(&users, Some(&["alice"]));
    assert_eq!(r.results[0].error_code, 0);
    let infos: Vec<(i8, i32)> = r.results[0]
        .credential_infos
        .iter()
        .map(|c| (c.mechanism, c.iterations))
        .collect();
    assert_eq!(infos, vec![(1, 10_000)]);
    // no users named: all of them
    let all: Vec<String> = describe(&users, None)
        .results
        .iter()
        .map(|r| r.user.to_string())
        .collect();
    assert_eq!(all, vec!["admin".to_owned(), "alice".to_owned()]);
    assert_eq!(
        alter_with(&users, vec![deletion("alice", 1)], vec![]),
        vec![("alice".to_owned(), 0, None)]
    );
    let r = describe(&users, Some(&["alice"]));
    assert_eq!(
        r.results[0].error_code,
        ResponseError::ResourceNotFound.code()
    );
}

#[test]
fn refusals_carry_kafkas_codes_and_messages() {
    let users = users();
    let code = |e: ResponseError| e.code();
    let results = alter_with(
        &users,
        vec![
            deletion("nobody", 1),
            deletion("admin", 1),
            deletion("admin", 2),
        ],
        vec![
            upsertion("", 1, 8192),
            upsertion("mech", 0, 8192),
            upsertion("few", 2, 4095),
            upsertion("many", 2, 16_385),
            upsertion("dup", 1, 8192),
            upsertion("dup", 2, 8192),
        ],
    );
    let expected = [
        (
            "nobody",
            code(ResponseError::ResourceNotFound),
            "Attempt to delete a user credential that does not exist",
        ),
        (
            "admin",
            code(ResponseError::DuplicateResource),
            "A user credential cannot be altered twice in the same request",
        ),
        (
            "",
            code(ResponseError::UnacceptableCredential),
            "Username must not be empty",
        ),
        (
            "mech",
            code(ResponseError::UnsupportedSaslMechanism),
            "Unknown SCRAM mechanism",
        ),
        (
            "few",
            code(ResponseError::UnacceptableCredential),
            "Too few iterations",
        ),
        (
            "many",
            code(ResponseError::UnacceptableCredential),
            "Too many iterations",
        ),
        (
            "dup",
            code(ResponseError::DuplicateResource),
            "A user credential cannot be altered twice in the same request",
        ),
    ];
    let expected: Vec<(String, i16, Option<String>)> = expected
        .iter()
        .map(|(u, c, m)| ((*u).to_owned(), *c, Some((*m).to_owned())))
        .collect();
    assert_eq!(results, expected);
    assert_eq!(users.scram_users(), vec!["admin".to_owned()]);
    // the limits themselves are accepted
    let ok = alter_with(
        &users,
        vec![],
        vec![upsertion("a", 1, 4096), upsertion("b", 2, 16_384)],
    );
    assert!(ok.iter().all(|(_, c, _)| *c == 0), "{ok:?}");
    let r = describe(&users, Some(&["a", "a"]));
    assert_eq!(r.results.len(), 1);
    assert_eq!(
        r.results[0].error_code,
        ResponseError::DuplicateResource.code()
    );
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("Cannot describe SCRAM credentials for the same user twice in a single request: a")
    );
}

#[test]
fn failures_answer_every_user_named() {
    let req = AlterUserScramCredentialsRequest::default()
        .with_deletions(vec![deletion("b", 1)])
        .with_upsertions(vec![upsertion("a", 1, 8192), upsertion("b", 2, 8192)]);
    let r = req.fail(0, ResponseError::ClusterAuthorizationFailed.code());
    let users: Vec<&str> = r.results.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users, vec!["a", "b"]);
    let req = DescribeUserScramCredentialsRequest::default()
        .with_users(Some(vec![UserName::default().with_name(sb("a"))]));
    let r = req.fail(0, ResponseError::ClusterAuthorizationFailed.code());
    assert_eq!(
        r.error_code,
        ResponseError::ClusterAuthorizationFailed.code()
    );
    assert_eq!(r.results.len(), 1);
}
