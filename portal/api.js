// The HTTP API, called with the customer's token. Every error the API answers has one shape,
// {"error": {"code", "message", "details"}} (docs/api.md): it is thrown as an ApiError.

export class ApiError extends Error {
  constructor(status, { code, message, details }) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The token was refused (expired, or the account's sign-in ended): sign in again. */
export class SignedOut extends Error {}

export function apiClient(baseUrl, token) {
  async function request(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // A change is sent with a key of its own: delivered twice, it is made once (docs/api.md).
    if (method !== "GET") headers["Idempotency-Key"] = crypto.randomUUID();
    let response;
    try {
      response = await fetch(baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { code: "network", message: "", details: null });
    }
    if (response.status === 401) throw new SignedOut();
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new ApiError(response.status, answer.error ?? { code: "internal_error", message: response.statusText });
    }
    return answer;
  }
  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    put: (path, body) => request("PUT", path, body),
  };
}
