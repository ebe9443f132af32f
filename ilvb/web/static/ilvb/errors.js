// Typed errors of the Web SDK: a stable `code` and a human `message`, as in ilvb/errors.py.

/**
 * Every code the Web SDK raises itself, with what it means. This is the one table: `tsc`
 * (scripts/test.sh) rejects `new IlvbError("…")` with a code that is not in it. Errors the
 * server reports keep the server's code (docs/protocol.md "Error codes"); ilvb/errors.py and
 * docs/protocol.md list every code of this table too.
 */
export const CLIENT_ERROR_CODES = Object.freeze({
  unavailable: "the signaling connection is not open, could not be opened, or was lost",
  timeout: "a request (or an awaited event) got no reply in time",
  invalid_argument: "an SDK call got a bad argument (unknown source, volume out of range, …)",
  invalid_state: "the call does not fit the current state (a source already published, …)",
  not_in_room: "the call needs a room and the client is in none",
  permission_denied: "the person refused access to the camera, microphone or screen",
  device_unavailable: "no such device, or the device could not be opened",
  unsupported_feature: "the device or browser cannot do it (camera zoom, frame processing, …)",
  internal_error: "the server replied with an error without a code",
});

/** @typedef {keyof typeof CLIENT_ERROR_CODES} ClientErrorCode */
/** A code taken from a server error frame (any string the server sends). @typedef {string & {readonly __fromServer: true}} WireErrorCode */

/**
 * A typed error with a stable `code` and a human `message` (`details` for the data some codes
 * carry). Client-side codes are those of CLIENT_ERROR_CODES; server codes come via fromWire.
 */
export class IlvbError extends Error {
  /** @type {"IlvbError"} */
  name = "IlvbError";

  /**
   * @param {ClientErrorCode | WireErrorCode} code
   * @param {string} [message]
   * @param {Record<string, unknown>} [details]
   */
  constructor(code, message, details) {
    super(message || code.replace(/_/g, " "));
    /** @type {string} */
    this.code = code;
    /** @type {Record<string, unknown>} */
    this.details = details || {};
  }

  /**
   * Rebuild the error of an `error` frame (or REST error body).
   * @param {{code?: string, message?: string, details?: Record<string, unknown>} | null | undefined} body
   */
  static fromWire(body) {
    const code = body?.code ? /** @type {WireErrorCode} */ (String(body.code)) : "internal_error";
    return new IlvbError(code, String(body?.message || ""), body?.details);
  }

  /**
   * Wrap a DOMException from getUserMedia/getDisplayMedia into a typed error.
   * @param {unknown} err @param {string} what "microphone", "camera" or "screen"
   */
  static fromMediaError(err, what) {
    const name = typeof err === "object" && err !== null && "name" in err ? err.name : undefined;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return new IlvbError("permission_denied", `access to the ${what} was refused`);
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "NotReadableError") {
      return new IlvbError("device_unavailable", `the ${what} is not available (${name})`);
    }
    return new IlvbError("device_unavailable", `could not open the ${what}: ${err}`);
  }
}
