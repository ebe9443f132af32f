"""RTP/RTCP mechanisms of the forwarding path, one module each (seq, packet, munger, nack, rtcp,
audiolevel, keyframe, stats). Pure functions and small classes on bytes: no sockets, no asyncio."""
