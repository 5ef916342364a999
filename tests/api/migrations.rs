//! Migrations run up, down and up again to the same schema.

use linkwell_persistence::{dialect, migrate};

use crate::support::TestApp;

#[tokio::test]
async fn migrations_go_up_down_and_up_to_the_same_schema() {
    let app = TestApp::spawn().await;
    let mut conn = app.db();
    let before = dialect::describe_schema(&mut conn).unwrap();
    assert!(
        before.iter().any(|c| c.starts_with("referrals.")),
        "{before:?}"
    );
    let applied = migrate::revert_all(&mut conn).unwrap();
    assert_eq!(applied, migrate::count());
    assert_eq!(
        dialect::describe_schema(&mut conn).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(migrate::run(&mut conn).unwrap(), applied);
    assert_eq!(dialect::describe_schema(&mut conn).unwrap(), before);
}
