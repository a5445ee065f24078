/**
 * A stage's external approval check: a POST signed like a webhook
 * (X-Rampart-Signature: sha256=HMAC(WEBHOOK_SECRET, body)) whose answer
 * `{"decision": "approve" | "reject" | "pending", "note"?}` must be signed
 * the same way over its body.
 */
import { z } from "zod";
import { hmacHex, signatureMatches } from "./outbox";

/** How long a pending or failed approval check waits before it is asked again. */
export const CHECK_RETRY_MS = 5 * 60_000;

const CheckAnswerSchema = z.object({ decision: z.enum(["approve", "reject", "pending"]), note: z.string().max(2000).optional() });
export type CheckAnswer = z.infer<typeof CheckAnswerSchema>;

/** What the check is told: which flag, generation and stage wait, and the weight it would move to. */
export interface CheckQuestion {
  flag: string;
  generation: number;
  stage: number;
  weight: number | undefined;
  next: number | null;
  at: number;
}

/** Asks `url`; a failure (unreachable, not 2xx, unsigned or malformed answer) is `{ ok: false }` with why. */
export async function askApprovalCheck(url: string, question: CheckQuestion, secret: string, send: typeof fetch): Promise<{ ok: true; answer: CheckAnswer } | { ok: false; error: unknown }> {
  const body = JSON.stringify({ type: "approval_check", flag: question.flag, generation: question.generation, stage: question.stage, weight: question.weight, next: question.next, at: new Date(question.at).toISOString() });
  try {
    const response = await send(url, { method: "POST", headers: { "content-type": "application/json", "user-agent": "rampart-approval-check", "x-rampart-signature": `sha256=${await hmacHex(secret, body)}` }, body, signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`answered ${response.status}`);
    if (!(await signatureMatches(secret, text, response.headers.get("x-rampart-signature")))) throw new Error("the answer is not signed with WEBHOOK_SECRET");
    return { ok: true, answer: CheckAnswerSchema.parse(JSON.parse(text)) };
  } catch (error) {
    return { ok: false, error };
  }
}
