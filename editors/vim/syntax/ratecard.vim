" Vim syntax file
" Language:   ratecard pricing rules (*.rules)
" Maintainer: the ratecard project (docs/editors.md)
"
" The keyword lists between BEGIN and END are written by editors/generate.py from
" grammar/ratecard.lark; run it after changing the grammar's keywords.

if exists("b:current_syntax")
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn iskeyword @,48-57,_

" BEGIN KEYWORDS (editors/generate.py)
syn keyword ratecardStatement above accounts alert allowance bill contract credit currency
syn keyword ratecardStatement deduct discount extra fee from grant ladder languages meter
syn keyword ratecardStatement minimum modifier order packs price prices request rounding
syn keyword ratecardStatement rules subscription suspend timezone unpriced
syn keyword ratecardKeyword active amount and at balance before block by charge combined
syn keyword ratecardKeyword contact counts covers day default empty every except extends
syn keyword ratecardKeyword flat for free if in into issued keep least maximum no of on
syn keyword ratecardKeyword once one opened per prepaid property prorated quantity
syn keyword ratecardKeyword refundable rounded sales settle shared size skip spend stop
syn keyword ratecardKeyword then to unit unless until unused valid when while within zero
syn keyword ratecardChoice volume graduated postpaid total after_allowance month year
syn keyword ratecardChoice years months days half_up half_even half_down up down ceiling
syn keyword ratecardChoice floor exact line refund freeze expiry purchase subscriptions
syn keyword ratecardChoice arrears violation zh en pack remaining below exhausted expired
" END KEYWORDS

syn keyword ratecardInfinity inf
syn match ratecardInfinity /∞/

syn match ratecardOperator "[/+=×*>≥-]"

" A number keeps its scale suffix in one token: 300万, 1.5k, 10M; a malformed one (1万次,
" 0.0.2) is an error. Numbers end at a space, punctuation or a comment.
syn match ratecardError /\v(\w|\.)@<!-?\d[^ \t,()\[\]{}\/+#]*/
syn match ratecardNumber /\v(\w|\.)@<!-?\d+(_\d+)*(\.\d+(_\d+)*)?[kKMB千万亿]?([ \t,()\[\]{}\/+#]|$)@=/
syn match ratecardNumber /\v(\w|\.)@<!\d+(\.\d+)?\%/

" A day, `2027-01-01` (a version's or a contract's), over the number and error matches above;
" a malformed one (2027-1-01, 2027-01-01-02) stays an error.
syn match ratecardDate /\v(\w|\.)@<!\d{4}-\d{2}-\d{2}(\w|[.-])@!/

" The zone after `timezone`, slashes and all.
syn match ratecardZone /\v(<timezone\s+)@<=\a[A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*/

syn region ratecardString start=/"/ skip=/\\./ end=/"/ end=/$/ oneline contains=ratecardEscape
syn match ratecardEscape /\\./ contained

syn match ratecardComment /#.*$/ contains=ratecardAllow
syn match ratecardAllow /\v(#\s*)@<=allow\s*:(\s*,?\s*\a\d{3}>)*/ contained

hi def link ratecardStatement Statement
hi def link ratecardKeyword   Keyword
hi def link ratecardChoice    Constant
hi def link ratecardInfinity  Constant
hi def link ratecardNumber    Number
hi def link ratecardError     Error
hi def link ratecardDate      Constant
hi def link ratecardZone      Special
hi def link ratecardString    String
hi def link ratecardEscape    SpecialChar
hi def link ratecardComment   Comment
hi def link ratecardAllow     Todo
hi def link ratecardOperator  Operator

let b:current_syntax = "ratecard"

let &cpo = s:cpo_save
unlet s:cpo_save
