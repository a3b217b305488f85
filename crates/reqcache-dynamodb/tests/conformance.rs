//! The storage conformance suite on a real DynamoDB-API server (moto).

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use reqcache::storage::Storage;
use reqcache_dynamodb::DynamoDbStorage;
use support::fresh;

/// Stores a real entry for its metadata, then replaces its value.
async fn write_raw((storage, ()): &(DynamoDbStorage, ()), key: &str, bytes: Vec<u8>) {
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    storage.put(key, Arc::new(entry)).await.unwrap();
    storage
        .client()
        .update_item()
        .table_name(storage.table())
        .key("key", AttributeValue::S(key.to_owned()))
        .update_expression("SET #v = :v")
        .expression_attribute_names("#v", "value")
        .expression_attribute_values(":v", AttributeValue::B(Blob::new(bytes)))
        .send()
        .await
        .unwrap();
}

reqcache_test::conformance_tests!(fresh, write_raw);
