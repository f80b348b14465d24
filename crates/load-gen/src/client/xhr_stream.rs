//! xhr-stream client: `GET /stream`, NDJSON lines out of the chunked body.

use bytes::Bytes;
use pushbench_wire::xhr_stream::LineParser;

use super::{stream_session, Client, ClientError, Shared, State, StreamParser};

impl StreamParser for LineParser {
    fn push(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        LineParser::push(self, data);
        while let Some(line) = self.next_line() {
            out.push(line);
        }
    }
}

/// One streaming connection, resuming after the last sequence seen.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    let target = format!("/stream?topic={}&after={}", client.topic, st.resume_after());
    stream_session(shared, st, &target, &[], LineParser::new()).await
}
