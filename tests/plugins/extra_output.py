"""A local plugin with one run output: hello.txt, the run's model and accuracy, in every run folder."""

import zoo


def write(evaluation, run_dir):
    m = evaluation.metrics
    (run_dir / "hello.txt").write_text(f"{m['model']} {m['accuracy']:.4f}\n")


@zoo.hookimpl
def register_outputs(register):
    register(zoo.OutputSpec("hello.txt", "the run's model and accuracy", write))
