// What both media transports share: how a peer connection is made and when its offer or
// answer is complete.

/** A peer connection as the protocol wants it: one bundled transport, RTCP muxed. */
export function newPeerConnection() {
  return new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
}

/** Wait until a peer connection has gathered its ICE candidates (the protocol has no trickle). */
export function gathered(/** @type {RTCPeerConnection} */ pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((/** @type {(value?: undefined) => void} */ resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}
