/**
 * Errors of the SDK. Every failure caused by bad input from the network is
 * one of these classes with a machine-readable `code`, so callers can count
 * them; none of them is ever thrown out of an event handler of the client.
 */

/** Why a patch was refused (see proto/DELTA.md, "A decoder refuses..."). */
export type PatchErrorCode =
  /** The patch ended in the middle of a value or mask. */
  | "truncated"
  /** Bytes were left after the top-level message patch. */
  | "trailing"
  /** PATCH on a field kind that has no patch form. */
  | "bad-op"
  /** PATCH of a field or map entry missing from the baseline. */
  | "missing-baseline"
  /** An op code for a field index past the message's fields. */
  | "field-index"
  /** A value that does not decode (bad varint, bad UTF-8, bad nested message). */
  | "bad-value";

/** PatchError is thrown by applyPatch for a patch that must be refused. */
export class PatchError extends Error {
  override readonly name = "PatchError";
  constructor(
    readonly code: PatchErrorCode,
    message: string,
  ) {
    super(`tickwire: bad patch (${code}): ${message}`);
  }
}

/** DecodeError is raised for a frame that is not a valid ServerMessage. */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(`tickwire: bad frame: ${message}`);
    // Error's cause, set by hand: the ES2022 Error(message, options) form
    // would make consumers' type checks need lib ES2022.
    if (options && "cause" in options) {
      Object.defineProperty(this, "cause", { value: options.cause, writable: true, configurable: true });
    }
  }
}

/**
 * ServerError is an Error frame from the server (a refused or failed request),
 * with the server's ErrorCode.
 */
export class ServerError extends Error {
  override readonly name = "ServerError";
  constructor(
    /** tickwire.v1.ErrorCode value. */
    readonly code: number,
    /** ErrorCode name, e.g. "ROOM_FULL". */
    readonly codeName: string,
    message: string,
    readonly requestId = 0,
    /** The matchmaking ticket the error is about (MATCHMAKING_TIMEOUT); "" otherwise. */
    readonly ticketId = "",
  ) {
    super(message ? `${codeName}: ${message}` : codeName);
  }
}

/**
 * ConnectionClosedError rejects the pending requests of a connection that
 * closed before their reply arrived.
 */
export class ConnectionClosedError extends Error {
  override readonly name = "ConnectionClosedError";
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`tickwire: connection closed (${code}${reason ? ": " + reason : ""})`);
  }
}
