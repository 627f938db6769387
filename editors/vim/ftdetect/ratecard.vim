" A `.rules` file may also be udev's, polkit's or hog's: a ratecard file has a `rules NAME`
" header near its top (after its comments). `:setfiletype ratecard` sets it by hand.
autocmd BufNewFile,BufRead *.rules
      \ if match(getline(1, 50), '^\s*rules\s\+[A-Za-z_]') >= 0 |
      \   set filetype=ratecard |
      \ endif
