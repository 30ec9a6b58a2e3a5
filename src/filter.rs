// TEMPORARY placeholder until the real module lands (being written now).
#[derive(Debug, Clone)]
pub struct Filter(String);
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
    pub source: String,
}
impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "filter error at column {}: {}\n  {}\n  ^",
            self.position + 1,
            self.message,
            self.source
        )
    }
}
impl Filter {
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        Ok(Filter(src.to_string()))
    }
    pub fn matches(&self, _channel: &[u8], payload: &[u8]) -> bool {
        payload
            .windows(self.0.len().max(1))
            .any(|w| w == self.0.as_bytes())
    }
}
