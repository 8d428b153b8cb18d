//! DescribeGroups, ListGroups and DeleteGroups.

use super::*;

#[tokio::test]
async fn describe_list_delete() {
    let c = coordinator();
    let _a = stable_single(&c).await;
    let mut other = commit_req(-1, "", &[("t", 0, 1)]);
    other.group_id = GroupId(s("simple"));
    c.offset_commit(other, 8, &exists);

    let l = c.list_groups(ListGroupsRequest::default(), 4);
    let mut listed: Vec<(String, String, String)> = l
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("g".into(), "consumer".into(), "Stable".into()),
            ("simple".into(), "".into(), "Empty".into()),
        ]
    );
    let l = c.list_groups(
        ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
        4,
    );
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_id.as_str(), "simple");
    for v in 0..=5 {
        encodes(&c.list_groups(ListGroupsRequest::default(), v), v);
    }
    let l = c.list_groups(
        ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        5,
    );
    assert!(l.groups.is_empty());

    let d = c.describe_groups(
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g")), GroupId(s("nope"))])
            .with_include_authorized_operations(true),
        5,
    );
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    assert_eq!(d.groups[1].error_code, 0);
    for v in 0..=6 {
        let d = c.describe_groups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g")), GroupId(s("nope"))]),
            v,
        );
        encodes(&d, v);
        if v >= 6 {
            assert_eq!(d.groups[1].error_code, code(ResponseError::GroupIdNotFound));
        }
    }

    let r = c.delete_groups(
        DeleteGroupsRequest::default().with_groups_names(vec![
            GroupId(s("g")),
            GroupId(s("simple")),
            GroupId(s("nope")),
        ]),
        2,
    );
    encodes(&r, 2);
    let errors: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        errors,
        vec![
            code(ResponseError::NonEmptyGroup),
            0,
            code(ResponseError::GroupIdNotFound)
        ]
    );
    assert!(!c.lock().groups.contains_key("simple"));
}
