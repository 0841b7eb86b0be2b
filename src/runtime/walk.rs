//! One iterative walk for every tree transformation (conversion, remount sharing, snapshot
//! resolution, JS conversion): the containers being worked on live on a heap stack, so no depth of
//! input can overflow the call stack.
//!
//! A transformation is a [`Frame`]: how to start a child (open a container, or finish a leaf at
//! once), how an open container hands out its children and takes their results, and how it
//! finishes.

/// A container being transformed by [`walk`].
pub(crate) trait Frame: Sized {
    /// A child before it is started (a node, a pair of nodes, …).
    type Child;
    /// What a finished child or container becomes.
    type Output: Default;
    /// What the walk threads through every step (a cache, a replica; `()` for none).
    type Context;

    /// Starts a child: a container to walk into (`Ok`), or its result at once (`Err`).
    fn start(context: &mut Self::Context, child: Self::Child) -> Result<Self, Self::Output>;
    /// The next child of this container, if any is left.
    fn next_child(&mut self) -> Option<Self::Child>;
    /// Takes the result of the child that [`Frame::next_child`] returned last.
    fn take_child(&mut self, output: Self::Output);
    /// Finishes this container once every child was taken.
    fn finish(self, context: &mut Self::Context) -> Self::Output;
}

/// Transforms `root` depth first, in document order, without recursion.
pub(crate) fn walk<F: Frame>(context: &mut F::Context, root: F::Child) -> F::Output {
    let mut open = match F::start(context, root) {
        Ok(frame) => vec![frame],
        Err(output) => return output,
    };
    while let Some(frame) = open.last_mut() {
        let output = match frame.next_child() {
            Some(child) => match F::start(context, child) {
                Ok(child) => {
                    open.push(child);
                    continue;
                }
                Err(output) => output,
            },
            None => match open.pop() {
                Some(frame) => frame.finish(context),
                None => break,
            },
        };
        match open.last_mut() {
            Some(parent) => parent.take_child(output),
            None => return output,
        }
    }
    F::Output::default()
}
