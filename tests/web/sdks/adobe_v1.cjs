// Adobe's own Photoshop SDK (@adobe/photoshop-apis 2.0.1, from npm) calling Cutout's v1 dialect.
//
// The SDK has no base-URL option (it always builds https://image.adobe.io/...); a client
// pointed at Cutout sets its request configuration's baseUrl, as below. Everything else is
// the SDK's own code: its request bodies, headers, the 202's `_links`, its polling (every
// 2 s) until the status document says succeeded or failed.
//
// Input, one JSON object on stdin: {base, token, clientId, calls: [{method, body}]}; each
// call is `removeBackground` or `createMask`. Output, on stdout: one JSON line per call,
// {ok: true, result} with the final status document, or {ok: false, status, body, message}
// with what the SDK threw (an ApiError's status and body, or a failed job's details).
const { PhotoshopClient } = require("@adobe/photoshop-apis");

// The SDK awaits the POST's promise only at its first poll, 2 s later: a refused POST
// rejects before anything handles it, which Node treats as fatal. Clients keep a handler;
// the job then fails with the SDK's ApiError, as reported below.
process.on("unhandledRejection", () => {});

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { base, token, clientId, calls } = JSON.parse(Buffer.concat(chunks).toString());
  const client = new PhotoshopClient({
    clientId,
    tokenProvider: { getToken: async () => token },
  });
  client._photoshopAsyncClient._httpRequest.config.baseUrl = base;
  for (const call of calls) {
    try {
      const job = await client[call.method](call.body);
      process.stdout.write(JSON.stringify({ ok: true, result: job.result }) + "\n");
    } catch (error) {
      process.stdout.write(JSON.stringify({
        ok: false,
        status: error.status ?? null,
        body: error.body ?? error.details ?? null,
        message: String(error.message ?? error),
      }) + "\n");
    }
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
