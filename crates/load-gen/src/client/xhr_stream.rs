//! xhr-stream client: `GET /stream`, NDJSON lines out of the chunked body; on a server that
//! sends each published body as one chunk (Nchan's `chunked`), the chunks themselves.

use bytes::Bytes;
use pushbench_wire::xhr_stream::LineParser;
use pushbench_wire::Transport;

use super::{stream_session, ChunkBodies, Client, ClientError, Shared, State, StreamParser};
use crate::profile::Framing;

impl StreamParser for LineParser {
    fn push(
        &mut self,
        data: &[u8],
        _ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError> {
        LineParser::push(self, data);
        while let Some(line) = self.next_line() {
            out.push(line);
        }
        Ok(())
    }
}

/// One streaming connection, resuming after the last sequence seen.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    let topic = &client.topic;
    match shared.profile.framing {
        Framing::Envelope => {
            stream_session(shared, st, Transport::XhrStream, topic, LineParser::new()).await
        }
        Framing::Body => {
            stream_session(
                shared,
                st,
                Transport::XhrStream,
                topic,
                ChunkBodies::default(),
            )
            .await
        }
    }
}
