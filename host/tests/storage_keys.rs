//! Storage suite: API keys, on SQLite and on PostgreSQL.

use casebridge::store::test_support::TestDb;

async fn keys_round_trip(db: TestDb) {
    let store = &db.store;
    let key = store
        .create_api_key("ci", "ci-bot", &["cases_read".to_string()])
        .await
        .unwrap();
    let found = store
        .find_api_key(&key.api_key, &key.app_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_handle, "ci-bot");
    assert_eq!(found.scopes, vec!["cases_read".to_string()]);
    // The pair must match: another key's app key does not complete this api key.
    let other = store
        .create_api_key("ci2", "ci-bot", &["admin".to_string()])
        .await
        .unwrap();
    assert!(store
        .find_api_key(&key.api_key, &other.app_key)
        .await
        .unwrap()
        .is_none());
    assert_eq!(other.user_id, key.user_id, "same handle, same user");
    // Bearer lookup by app key.
    assert!(store
        .find_api_key_by_app_key(&other.app_key)
        .await
        .unwrap()
        .is_some());
    // Revoked keys never authenticate.
    assert!(store.revoke_api_key(&key.id).await.unwrap());
    assert!(store
        .find_api_key(&key.api_key, &key.app_key)
        .await
        .unwrap()
        .is_none());
    assert!(!store.revoke_api_key(&key.id).await.unwrap());
    db.cleanup().await;
}

#[tokio::test]
async fn keys_are_found_by_pair_and_never_after_revocation_sqlite() {
    keys_round_trip(TestDb::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn keys_are_found_by_pair_and_never_after_revocation_postgres() {
    keys_round_trip(TestDb::postgres().await.unwrap()).await;
}
