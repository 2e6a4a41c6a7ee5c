/** How long ago `at` was, in the largest whole unit (seconds to days). */
export function relativeTime(at: number, now = Date.now()): string {
  const seconds = Math.round((now - at) / 1000);
  if (seconds < 0) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/** A gateway time (ISO, UTC) in the browser's time zone and relative to now; the ISO stays in the tooltip. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>—</>;
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return <>{iso}</>;
  const local = new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return (
    <time dateTime={iso} title={iso} data-testid="time">
      {local} ({relativeTime(at)})
    </time>
  );
}
