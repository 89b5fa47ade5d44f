package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/crossroads-learn/crossroads/content"
	"github.com/crossroads-learn/crossroads/decide"
)

// decideText is the questionnaire and the record's words, from the content
// this binary embeds.
func decideText() (*decide.Text, error) {
	txt, err := decide.Load(content.FS)
	if err != nil {
		return nil, fmt.Errorf("the embedded decide content: %w", err)
	}
	return txt, nil
}

func newDecideCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decide",
		Short: "Answer the five-step questionnaire and write an Architecture Decision Record",
		Long: `Walk the five-step decision framework and get an Architecture Decision Record.

Without --answers the questionnaire runs interactively in the terminal. With
--answers FILE (YAML or JSON; "-" reads standard input) it runs unattended and
prints the record, or writes it to --out DIR as NNNN-slug.md numbered after the
highest existing record (the adr-tools convention) and regenerates DIR/README.md.

Answers with a wrong field exit with status 2 and name the field, for example
journeys[0].interactions[2].consistency: must be strong or eventual.`,
		Example: `  crossroads decide --answers decide/testdata/checkout.yaml
  crossroads decide --answers answers.yaml --format nygard --out docs/decisions
  crossroads decide status 3 accepted
  crossroads decide supersede 2 5`,
		Args: noArgs,
	}
	answersFile := cmd.Flags().String("answers", "", `answers file, YAML or JSON ("-" for standard input)`)
	format := cmd.Flags().String("format", decide.FormatMADR, "output: madr, nygard, minimal or json")
	out := cmd.Flags().String("out", "", "write the record into this folder instead of printing it (e.g. "+decide.DefaultDir+")")
	supersedes := cmd.Flags().Int("supersedes", 0, "with --out: the number of an existing record the new one supersedes")
	accessible := cmd.Flags().Bool("accessible", os.Getenv("ACCESSIBLE") != "", "ask one plain line at a time (screen readers, piped input) (env ACCESSIBLE)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !slices.Contains(decide.Formats, *format) {
			return usagef("--format: %q is not one of madr, nygard, minimal, json", *format)
		}
		if *out != "" && *format == decide.FormatJSON {
			return usagef("--format json prints a result; it cannot be written with --out")
		}
		if *supersedes != 0 && *out == "" {
			return usagef("--supersedes needs --out DIR")
		}
		if *supersedes < 0 {
			return usagef("--supersedes: must be a record number, got %d", *supersedes)
		}
		txt, err := decideText()
		if err != nil {
			return err
		}
		var a decide.Answers
		if *answersFile == "" {
			if !*accessible && !isTerminal(cmd.InOrStdin()) {
				return usagef("standard input is not a terminal: pass --answers FILE, or --accessible to answer line by line")
			}
			var err error
			if a, err = askInteractively(cmd.Context(), txt, cmd.InOrStdin(), cmd.ErrOrStderr(), *accessible); err != nil {
				return err
			}
		} else {
			var err error
			if a, err = readAnswers(cmd.Context(), cmd.InOrStdin(), *answersFile); err != nil {
				return err
			}
		}
		a = a.Normalized(time.Now().Format("2006-01-02"))
		if *out == "" {
			text, err := txt.Render(a, decide.Options{Format: *format})
			if err != nil {
				return usagef("%v", err)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		}
		rec, err := txt.WriteRecord(cmd.Context(), *out, a, *format)
		if err != nil {
			return domainError(err)
		}
		if *supersedes != 0 {
			if err := txt.Supersede(cmd.Context(), *out, *supersedes, rec.Number); err != nil {
				return domainError(fmt.Errorf("record %s was written, but: %w", rec.File, err))
			}
		}
		fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(*out, rec.File))
		return nil
	}
	cmd.AddCommand(newDecideStatusCmd(), newDecideSupersedeCmd(), newDecideIndexCmd())
	return cmd
}

// readAnswers loads and validates an answers file; every wrong field is a
// usage error naming its path, and so is a name that is not a file. A pipe
// or a terminal is read too (--answers /dev/stdin, <(...)), but waiting for
// it stops when ctx is done, as on SIGTERM.
func readAnswers(ctx context.Context, stdin io.Reader, name string) (decide.Answers, error) {
	open := func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }
	if name != "-" {
		fi, err := os.Stat(name)
		if err != nil {
			return decide.Answers{}, answersFileError(name, err)
		}
		if fi.IsDir() {
			return decide.Answers{}, usagef("--answers: %s is a folder; pass an answers file (YAML or JSON)", name)
		}
		open = func() (io.ReadCloser, error) {
			f, err := os.Open(name)
			if err != nil {
				return nil, answersFileError(name, err)
			}
			return f, nil
		}
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := open()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer r.Close()
		b, err := io.ReadAll(io.LimitReader(r, decide.MaxInputBytes+1))
		if err != nil {
			err = fmt.Errorf("read answers from %s: %w", name, err)
		}
		done <- result{b, err}
	}()
	var b []byte
	select {
	case res := <-done:
		if res.err != nil {
			return decide.Answers{}, res.err
		}
		b = res.b
	case <-ctx.Done():
		return decide.Answers{}, fmt.Errorf("read answers from %s: stopped waiting: %w", name, context.Cause(ctx))
	}
	a, err := decide.Parse(b)
	var ve *decide.ValidationError
	if errors.As(err, &ve) {
		return decide.Answers{}, usagef("invalid answers in %s:\n%s", name, ve.Error())
	}
	return a, err
}

// answersFileError is a usage error for an --answers file that cannot be
// opened, worded without the system call: "--answers: a.yaml: permission denied".
func answersFileError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return usagef("--answers: %s: %v", name, err)
}

// domainError turns the decide package's caller mistakes into exit code 2.
func domainError(err error) error {
	if errors.Is(err, decide.ErrInvalid) {
		return usagef("%s", strings.Replace(err.Error(), decide.ErrInvalid.Error()+": ", "", 1))
	}
	return err
}

func recordNumber(arg string) (int, error) {
	n, err := strconv.Atoi(arg) // "0003" and "3" name the same record
	if err != nil || n <= 0 {
		return 0, usagef("record number: %q is not a positive whole number", arg)
	}
	return n, nil
}

func newDecideStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status N STATUS",
		Short: "Move record N through its lifecycle (proposed → accepted → deprecated, or rejected)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("status takes a record number and a status, such as: status 3 accepted")
			}
			return nil
		},
	}
	dir := cmd.Flags().String("dir", decide.DefaultDir, "the folder of decision records")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := recordNumber(args[0])
		if err != nil {
			return err
		}
		txt, err := decideText()
		if err != nil {
			return err
		}
		rec, err := txt.SetStatus(cmd.Context(), *dir, n, strings.ToLower(args[1]))
		if err != nil {
			return domainError(err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", filepath.Join(*dir, rec.File), rec.Status)
		return nil
	}
	return cmd
}

func newDecideSupersedeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supersede OLD NEW",
		Short: "Mark record OLD as superseded by record NEW, linking both",
		Long: `Mark record OLD as superseded by record NEW: OLD's status links to NEW and NEW
links back. Works on MADR records and on records written by adr-tools.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("supersede takes two record numbers, such as: supersede 2 5")
			}
			return nil
		},
	}
	dir := cmd.Flags().String("dir", decide.DefaultDir, "the folder of decision records")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		oldN, err := recordNumber(args[0])
		if err != nil {
			return err
		}
		newN, err := recordNumber(args[1])
		if err != nil {
			return err
		}
		txt, err := decideText()
		if err != nil {
			return err
		}
		if err := txt.Supersede(cmd.Context(), *dir, oldN, newN); err != nil {
			return domainError(err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "record %d is superseded by record %d\n", oldN, newN)
		return nil
	}
	return cmd
}

func newDecideIndexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Regenerate the README.md index of a folder of decision records",
		Args:  noArgs,
	}
	dir := cmd.Flags().String("dir", decide.DefaultDir, "the folder of decision records")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		txt, err := decideText()
		if err != nil {
			return err
		}
		if err := txt.WriteIndex(cmd.Context(), *dir); err != nil {
			return domainError(err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(*dir, "README.md"))
		return nil
	}
	return cmd
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
