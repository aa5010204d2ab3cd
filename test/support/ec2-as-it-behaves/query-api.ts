/**
 * EC2's Query API as the layer speaks it: reading a request's parameters, answering in EC2's
 * XML, calling moto (upstream) for the layer's own reads and for the calls it passes on.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { readBody } from '../http-body.ts';
import { forwardRequest } from '../loopback-server.ts';
import { parseXml, rootOf, type XmlNode } from './xml-tree.ts';

const ec2Namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const apiVersion = '2016-11-15';

/** An answer from upstream, with its XML root when it parsed. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly body: Buffer;
  readonly root?: XmlNode;
}

/** moto (or a stand-in in front of it), for the layer's own calls and the ones it passes on. */
export class Upstream {
  readonly url: URL;

  constructor(endpoint: string) {
    this.url = new URL(endpoint);
  }

  /** One EC2 call of the layer's own (unsigned: moto checks no signature). */
  async call(action: string, params: Record<string, string>): Promise<UpstreamAnswer> {
    const body = new URLSearchParams({ Action: action, Version: apiVersion, ...params });
    return this.pass(Buffer.from(body.toString()), {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: unsignedEc2Authorization(),
    });
  }

  /** A caller's request, passed on as it came; the answer read whole. */
  pass(
    body: Buffer,
    headers: IncomingMessage['headers'] | Record<string, string>,
  ): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const call = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method: 'POST',
          path: '/',
          headers: { ...headers, 'content-length': String(body.length), host: this.url.host },
        },
        (answer) => {
          readBody(answer)
            .then((content) => {
              const status = answer.statusCode ?? 502;
              const root = status < 300 ? rootOf(parseXml(content.toString('utf8'))) : undefined;
              resolve({ status, body: content, ...(root ? { root } : {}) });
            })
            .catch(reject);
        },
      );
      call.on('error', reject);
      call.end(body);
    });
  }

  /** A request of another service (or one the layer leaves alone), streamed both ways. */
  forward(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    forwardRequest(req, body, res, this.url, 'EC2 layer');
  }
}

/** The EC2 Query API, told from the other query-protocol services by the signature's scope. */
export function isEc2(req: IncomingMessage): boolean {
  const contentType = req.headers['content-type'] ?? '';
  const scope = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(req.headers.authorization ?? '');
  return contentType.includes('x-www-form-urlencoded') && scope?.[1] === 'ec2';
}

/** `InstanceId.1`, `InstanceId.2`, ... of the query protocol. */
export function listParam(params: URLSearchParams, name: string): string[] {
  const values: string[] = [];
  for (let i = 1; params.has(`${name}.${i}`); i++) values.push(params.get(`${name}.${i}`) ?? '');
  return values;
}

/** `{ 'InstanceId.1': ..., 'InstanceId.2': ... }` for a call of the layer's own. */
export function listParams(name: string, values: readonly string[]): Record<string, string> {
  return Object.fromEntries(values.map((value, i) => [`${name}.${i + 1}`, value]));
}

/** The values of the filter `name` (`Filter.N.Name` / `Filter.N.Value.M`), if the request has one. */
export function filterValues(params: URLSearchParams, name: string): string[] | undefined {
  for (let i = 1; params.has(`Filter.${i}.Name`); i++) {
    if (params.get(`Filter.${i}.Name`) === name) return listParam(params, `Filter.${i}.Value`);
  }
  return undefined;
}

function unsignedEc2Authorization(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  return `AWS4-HMAC-SHA256 Credential=testing/${day}/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0`;
}

export function answerXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml;charset=UTF-8',
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

/** An upstream answer, passed on unchanged. */
export function answerAsUpstream(res: ServerResponse, answer: UpstreamAnswer): void {
  answerXml(res, answer.status, answer.body.toString('utf8'));
}

/** A successful answer of `action` with `content` inside, as EC2 writes it. */
export function answerAction(res: ServerResponse, action: string, content: string): void {
  answerXml(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="${ec2Namespace}">` +
      `<requestId>${randomUUID()}</requestId>${content}</${action}Response>`,
  );
}

/** An error answer, as EC2 writes it (the SDK reads `Code` as the error's name). */
export function answerError(res: ServerResponse, code: string, message: string): void {
  answerXml(
    res,
    400,
    `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code>` +
      `<Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  );
}
