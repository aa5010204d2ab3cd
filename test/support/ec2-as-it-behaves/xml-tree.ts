/**
 * EC2's XML answers as an ordered tree that can be read, changed and written back unchanged
 * elsewhere (fast-xml-parser's `preserveOrder` form), for the EC2 layer in front of moto.
 * An element is `{ [tag]: children, ':@'?: attributes }`; a text node is `{ '#text': value }`.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

export type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  parseTagValue: false,
  trimValues: false,
});
const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  suppressEmptyNode: true,
});

export function parseXml(text: string): XmlNode[] {
  return parser.parse(text) as XmlNode[];
}

export function buildXml(tree: XmlNode[]): string {
  return builder.build(tree) as string;
}

export function tagOf(node: XmlNode): string | undefined {
  return Object.keys(node).find((key) => key !== ':@' && key !== '#text');
}

export function childrenOf(node: XmlNode): XmlNode[] {
  const tag = tagOf(node);
  return tag ? ((node[tag] as XmlNode[] | undefined) ?? []) : [];
}

/** The first child element named `tag`. */
export function child(node: XmlNode, tag: string): XmlNode | undefined {
  return childrenOf(node).find((c) => tagOf(c) === tag);
}

/** The element at the end of a path of child names. */
export function at(node: XmlNode, ...path: string[]): XmlNode | undefined {
  let current: XmlNode | undefined = node;
  for (const tag of path) current = current ? child(current, tag) : undefined;
  return current;
}

/** The `item` children of the element at `path`: EC2's lists. */
export function items(node: XmlNode, ...path: string[]): XmlNode[] {
  const list = at(node, ...path);
  return list ? childrenOf(list).filter((c) => tagOf(c) === 'item') : [];
}

export function textOf(node: XmlNode | undefined, ...path: string[]): string | undefined {
  const element = node ? at(node, ...path) : undefined;
  if (!element) return undefined;
  return childrenOf(element)
    .map((c) => (typeof c['#text'] === 'string' ? c['#text'] : ''))
    .join('');
}

/** Sets the text of the child `tag`, adding the child when it is missing. */
export function setText(node: XmlNode, tag: string, value: string): void {
  const children = childrenOf(node);
  const existing = children.find((c) => tagOf(c) === tag);
  const content = value === '' ? [] : [{ '#text': value }];
  if (existing) existing[tag] = content;
  else children.push({ [tag]: content });
}

/** Removes every child named `tag`. */
export function removeChild(node: XmlNode, tag: string): void {
  const children = childrenOf(node);
  for (let i = children.length - 1; i >= 0; i--) {
    const c = children[i];
    if (c && tagOf(c) === tag) children.splice(i, 1);
  }
}

/** The root element of a parsed document (after the `<?xml ...?>` declaration). */
export function rootOf(tree: XmlNode[]): XmlNode | undefined {
  return tree.find((node) => {
    const tag = tagOf(node);
    return tag !== undefined && !tag.startsWith('?');
  });
}
