"""The zoo's cases, one module per family (mlp, cnn, rnn, transformer_lm, regression, binary) plus healthy."""
