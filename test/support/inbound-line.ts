import { ObjectId } from 'mongodb';
import { createAgent, createPhone, randomIndianNumber } from './catalogue-factories.js';
import { registerUser, setCredits, type TestUser } from './factories.js';
import { call, type CallResult } from './http.js';
import type { TestContext } from './test-app.js';

export interface InboundLine {
  user: TestUser;
  /** The secret token of the user's inbound webhook URL. */
  token: string;
  phoneNumber: string;
}

/** A user with credits whose ExoPhone rings an agent. */
export async function inboundLine(context: TestContext, credits = 10): Promise<InboundLine> {
  const user = await registerUser(context);
  await setCredits(context, user.id, credits);
  const webhooks = await call(context.app, 'GET', '/api/v1/users/me/webhooks', {
    token: user.token,
  });
  const token = (webhooks.body.incomingCallUrl as string).split('/').at(-1)!;
  const agentId = (await createAgent(context, user)).id as string;
  const phoneNumber = randomIndianNumber();
  await createPhone(context, user, { number: phoneNumber, agentId });
  return { user, token, phoneNumber };
}

/** Exotel's Passthru request for a call to the line (local number formats, as Exotel sends them). */
export function ring(
  context: TestContext,
  line: InboundLine,
  callSid = `CA${new ObjectId().toString()}`,
): Promise<CallResult> {
  return call(context.app, 'GET', `/api/v1/telephony/exotel/incoming/${line.token}`, {
    query: { CallSid: callSid, CallFrom: '09123456789', CallTo: `0${line.phoneNumber.slice(3)}` },
  });
}
