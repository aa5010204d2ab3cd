/**
 * EC2 reuses released private IPs: a new instance may get the address, and so the DNS name and
 * Node name, of one terminated before it. Asked for by a test, the next RunInstances gives its
 * instance a terminated one's address, which DescribeInstances then shows for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InstanceStates } from './instances.ts';
import { answerAsUpstream, answerXml, type Upstream } from './query-api.ts';
import { at, buildXml, items, setText, textOf, type XmlNode } from './xml-tree.ts';

interface PrivateAddress {
  readonly ip: string;
  readonly dnsName: string;
}

export class Addresses {
  /** Instances given a terminated instance's address. */
  private readonly reused = new Map<string, PrivateAddress>();
  /** The address the next instance launched gets. */
  private next: PrivateAddress | undefined;

  private readonly upstream: Upstream;
  private readonly instances: InstanceStates;

  constructor(upstream: Upstream, instances: InstanceStates) {
    this.upstream = upstream;
    this.instances = instances;
  }

  /** The next instance gets `from`'s address; why not, when `from` is not terminated. */
  async reuse(from: string): Promise<string | undefined> {
    const { instances } = await this.instances.read([from]);
    const instance = instances.get(from);
    if (!instance) return `EC2 does not know ${from}`;
    if (instance.state !== 'terminated') {
      return `${from} is ${instance.state}: EC2 reuses only a terminated instance's address`;
    }
    // moto keeps a terminated instance's address (EC2 would show none).
    this.next = { ip: instance.privateIp, dnsName: instance.privateDnsName };
    return undefined;
  }

  async runInstances(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const answer = await this.upstream.pass(body, req.headers);
    const [first] = answer.root ? items(answer.root, 'instancesSet') : [];
    const address = this.next;
    if (!answer.root || !first || !address) return answerAsUpstream(res, answer);
    this.next = undefined;
    this.reused.set(textOf(first, 'instanceId') ?? '', address);
    giveAddress(first, address);
    answerXml(res, 200, buildXml([answer.root]));
  }

  /** Shows the reused address, where DescribeInstances shows one instance. */
  show(instance: XmlNode): void {
    const address = this.reused.get(textOf(instance, 'instanceId') ?? '');
    if (address) giveAddress(instance, address);
  }
}

/** Puts `address` wherever EC2 shows an instance's private address. */
function giveAddress(instance: XmlNode, address: PrivateAddress): void {
  const set = (node: XmlNode) => {
    if (at(node, 'privateDnsName')) setText(node, 'privateDnsName', address.dnsName);
    if (at(node, 'privateIpAddress')) setText(node, 'privateIpAddress', address.ip);
  };
  set(instance);
  for (const networkInterface of items(instance, 'networkInterfaceSet')) {
    set(networkInterface);
    for (const privateIp of items(networkInterface, 'privateIpAddressesSet')) set(privateIp);
  }
}
