// The demo API arrives with the adapters; until then the Worker only answers its health check so
// `wrangler dev` has something real to serve.
export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === '/health') return Response.json({ ok: true });
    return new Response('not found', { status: 404 });
  },
};
