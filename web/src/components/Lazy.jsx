// Long lists (a run's 200 jobs) are rendered in blocks: the first blocks at once, the others when
// they come near the viewport (an IntersectionObserver with a margin of about a screen), each an
// empty box of their estimated height until then so that the page is as tall as it will be. A
// block once shown stays (no re-rendering while scrolling back and forth).
import { useEffect, useRef, useState } from 'react';

/**
 * Splits `items` into blocks of `size`: [[item, ...], ...]; the first block holds `first` (about
 * a screen: what is rendered before the first paint).
 */
export function blocksOf(items, size, first = size) {
  const out = [];
  for (let i = 0; i < items.length; ) {
    const n = out.length ? size : first;
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * `children` (a function, called only once shown) when `eager` or once the block has come within
 * `margin` of the viewport; until then an empty element `height` pixels tall. `as`: the element
 * of the block (a div; a tbody inside a table).
 */
export function LazyBlock({ eager = false, height, margin = '800px', as: Tag = 'div', children, ...rest }) {
  const [shown, setShown] = useState(eager);
  const ref = useRef(null);
  useEffect(() => {
    if (shown || !ref.current) return undefined;
    if (typeof IntersectionObserver === 'undefined') {
      setShown(true);
      return undefined;
    }
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setShown(true);
    }, { rootMargin: `${margin} 0px` });
    io.observe(ref.current);
    return () => io.disconnect();
  }, [shown, margin]);
  if (shown || eager) return <Tag {...rest}>{children()}</Tag>;
  return <Tag {...rest} ref={ref} style={{ height }} data-lazy="pending" aria-hidden="true" />;
}
