// One session on the server: a WebSocket to /ws speaking the openenv-gym.v1 JSON subprotocol,
// whose replies are matched to requests by their "id" (docs/protocol.md).

const SUBPROTOCOL = "openenv-gym.v1";
const TOKEN_PREFIX = "openenv-gym.token.";

/** An error frame from the server: `code`, `message` and, for validation errors, `errors`. */
export class ServerError extends Error {
  constructor(data) {
    super(data.message);
    this.code = data.code;
    this.errors = data.errors || [];
  }
}

/** The subprotocol entry carrying a bearer token (server/web/token.py: base64url, unpadded). */
export function tokenSubprotocol(token) {
  const encoded = btoa(token).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return TOKEN_PREFIX + encoded;
}

export class Connection {
  /**
   * Opens a session; resolves once the server accepted it.
   * @param {URL} url the /ws address
   * @param {string|null} token the bearer token, if the server needs one
   * @param {(reason: string) => void} onClose called once when the socket closes
   */
  static open(url, token, onClose) {
    const protocols = token ? [SUBPROTOCOL, tokenSubprotocol(token)] : [SUBPROTOCOL];
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocols);
      socket.onopen = () => resolve(new Connection(socket, onClose));
      socket.onerror = () => reject(new Error("the server refused the connection"));
    });
  }

  constructor(socket, onClose) {
    this.socket = socket;
    this.pending = new Map();
    this.nextId = 1;
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => this.closed(event, onClose);
  }

  /** Sends one request; resolves with the reply's data, rejects with a ServerError. */
  request(type, data) {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error("the session is closed"));
    const id = this.nextId++;
    const message = data === undefined ? { type, id } : { type, id, data };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify(message));
    });
  }

  close() {
    this.socket.close(1000);
  }

  receive(reply) {
    const waiting = this.pending.get(reply.id);
    if (reply.type === "error" && waiting === undefined) {
      this.unsolicited = new ServerError(reply.data); // e.g. CAPACITY_REACHED, then the close
      return;
    }
    if (waiting === undefined) return;
    this.pending.delete(reply.id);
    if (reply.type === "error") waiting.reject(new ServerError(reply.data));
    else waiting.resolve(reply.data);
  }

  closed(event, onClose) {
    const reason = this.unsolicited ? `${this.unsolicited.code}: ${this.unsolicited.message}`
      : event.reason || `connection closed (code ${event.code})`;
    for (const { reject } of this.pending.values()) reject(new Error(reason));
    this.pending.clear();
    onClose(reason);
  }
}
