//! iframe (htmlfile) client: `GET /iframe`, `<script>p(...)</script>` calls out of the document.

use bytes::Bytes;
use pushbench_wire::iframe::ScriptParser;
use pushbench_wire::Transport;

use super::{stream_session, Client, ClientError, Shared, State, StreamParser};

impl StreamParser for ScriptParser {
    fn push(
        &mut self,
        data: &[u8],
        _ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError> {
        ScriptParser::push(self, data);
        while let Some(env) = self.next_envelope() {
            out.push(env);
        }
        Ok(())
    }
}

/// One document stream, resuming after the last sequence seen.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    stream_session(
        shared,
        st,
        Transport::Iframe,
        &client.topic,
        ScriptParser::new(),
    )
    .await
}
