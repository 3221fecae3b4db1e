pub async fn fresh_database_url() -> Option<String> {
    None
}
