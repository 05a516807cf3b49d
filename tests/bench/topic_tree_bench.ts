/** Topic tree micro-benchmarks: match on cache hit and miss, and subscribe cost at two tree sizes. */
import { TopicTree } from "../../src/broker/topic_tree.ts";

function filled(n: number): TopicTree<number> {
  const tree = new TopicTree<number>();
  for (let i = 0; i < n; i++) tree.subscribe(`site/${i % 100}/device/${i}/+`, `c${i}`, i);
  tree.subscribe("site/#", "all", -1);
  return tree;
}

const big = filled(10_000);
big.match("site/5/device/5/temp");
Deno.bench("match, cache hit, 10 000 subscriptions", { group: "match" }, () => {
  big.match("site/5/device/5/temp");
});
let n = 0;
Deno.bench("match, cache miss, 10 000 subscriptions", { group: "match" }, () => {
  big.match(`site/5/device/5/t${n++}`);
});

for (const size of [1_000, 100_000]) {
  const tree = filled(size);
  let i = 0;
  Deno.bench(`subscribe + unsubscribe with ${size} others`, { group: "subscribe" }, () => {
    const filter = `x/${i++ % 1000}/y`;
    tree.subscribe(filter, "bench", 0);
    tree.unsubscribe(filter, "bench");
  });
}
