import { Counter } from "./counter";

// A server component: it renders the client component; the live state arrives in the browser.
export default function Page() {
  return (
    <main>
      <h1>Counter</h1>
      <Counter />
    </main>
  );
}
