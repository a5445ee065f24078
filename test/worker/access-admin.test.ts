/** Grants and API tokens refuse bad input naming the field, and change nothing. */
import { describe, expect, it } from "vitest";
import { call, uniqueKey } from "./helpers";

describe("grants and tokens: bad input", () => {
  it("refuses a grant with an unknown role, a bad prefix or kind, naming the field, and stores none", async () => {
    const who = `${uniqueKey("u")}@example.com`;
    const role = await call("PUT", `/admin/grants/user/${who}`, { body: { role: "owner" } });
    expect(role.status).toBe(400);
    expect(role.json.issues[0].path).toBe("role");
    const prefix = await call("PUT", `/admin/grants/user/${who}`, { body: { role: "viewer", prefixes: ["search"] } });
    expect(prefix.status).toBe(400);
    expect(prefix.json.issues[0]).toMatchObject({ path: "prefixes[0]", message: 'a flag-key prefix ending in *, like "search-*"' });
    const kind = await call("PUT", `/admin/grants/team/${who}`, { body: { role: "viewer" } });
    expect(kind.status).toBe(400);
    expect(kind.json.issues[0].path).toBe("kind");
    expect((await call("GET", "/admin/grants")).json.grants.some((g: { subject: string }) => g.subject === who)).toBe(false);
    expect((await call("DELETE", `/admin/grants/user/${who}`)).status).toBe(404);
  });

  it("refuses a token with a bad name or role, names a bad id, and 404s revoking one that is not there", async () => {
    const name = await call("POST", "/admin/tokens", { body: { name: "has space", role: "viewer" } });
    expect(name.status).toBe(400);
    expect(name.json.issues[0].path).toBe("name");
    expect((await call("POST", "/admin/tokens", { body: { name: "ok", role: "root" } })).json.issues[0].path).toBe("role");
    expect((await call("DELETE", "/admin/tokens/not-an-id")).json.issues[0]).toMatchObject({ path: "id" });
    expect((await call("DELETE", "/admin/tokens/0123456789ab")).status).toBe(404);
  });
});
