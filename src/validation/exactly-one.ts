/** The one pair whose value is given, or undefined when none or several are. */
export function exactlyOne<K>(candidates: ReadonlyArray<readonly [K, string | undefined]>): [K, string] | undefined {
  const named = candidates.filter(([, value]) => value !== undefined);
  return named.length === 1 ? [named[0][0], named[0][1]!] : undefined;
}
