// Package lessons turns the chapters in content/lessons into pages a learner can
// read, quizzes the server can grade, and progress that survives a reload.
//
// It parses every chapter once at start-up, so a malformed lesson stops the
// program (and the tests) with its file name and line instead of failing a
// learner at request time. It knows nothing of HTTP or HTML layouts; the server
// package adapts it to the web.
package lessons
